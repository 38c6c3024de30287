/* make_seeds.c: writes the seed corpora of the fuzz targets with the
 * project's own encoders, so every seed is a valid input (plus a few
 * hand-made regression seeds). Run once, from the repository root:
 *   clang -std=c11 -D_GNU_SOURCE -Icommon -Iactors -Ilearner -Iproto \
 *     $(pkg-config --cflags openblas msgpack libzstd jansson inih libxxhash) \
 *     -o /tmp/make_seeds tests/fuzz/make_seeds.c proto/wire.c proto/weights.c \
 *     common/checkpoint.c common/model.c common/model_kernels.c common/tokenizer*.c \
 *     common/format_safetensors.c common/format_llama2c.c common/format_hf.c \
 *     common/atomic_file.c \
 *     common/util.c $(pkg-config --libs openblas msgpack libzstd jansson inih libxxhash) -lm
 *   /tmp/make_seeds tests/fuzz/corpus
 * Output: <dir>/<target>/<name> for every target; existing files are
 * overwritten. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "checkpoint.h"
#include "format_safetensors.h"
#include "model.h"
#include "model_formats.h"
#include "rs_records.h"
#include "task.h"
#include "tokenizer.h"
#include "util.h"
#include "weights.h"
#include "wire.h"

static const char *root;

/* Writes n bytes to <root>/<target>/<name>, creating the directory. */
static void seed(const char *target, const char *name, const void *data, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) die("mkdir %s: %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = xfopen(path, "wb");
    if (n && fwrite(data, 1, n, f) != n) die("write %s failed", path);
    fclose(f);
}
static void seed_str(const char *target, const char *name, const char *s) {
    seed(target, name, s, strlen(s));
}

/* ---- wire: encoded groups, and the raw msgpack inside each */
static void wire_seeds(void) {
    WireCodec *c = wire_codec_new(3);
    const struct { int G, P, C; int lens[4]; } shapes[] = {
        {1, 1, 0, {0}}, {2, 5, 2, {3, 0}}, {4, 12, 4, {8, 1, 5, 16}}, {3, 3, 1, {64, 2, 7}}};
    uint32_t x = 12345;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t n = 0;
        for (int g = 0; g < shapes[s].G; g++) n += shapes[s].lens[g];
        Group grp;
        group_alloc(&grp, shapes[s].G, shapes[s].P, shapes[s].C, n);
        grp.actor_rank = (uint32_t)s + 1;
        grp.seq_no = 1000 + s;
        grp.prompt_id = 0xABCDEF0123ull * (s + 1);
        grp.policy_version = s;
        grp.gen_seconds = 0.25 * (double)s;
        grp.verify_seconds = 0.001;
        for (int i = 0; i < grp.prompt_len; i++) grp.prompt[i] = (int32_t)((x = x * 1103515245u + 12345u) % 98);
        for (int g = 0; g < grp.G; g++) {
            grp.completion_len[g] = shapes[s].lens[g];
            grp.reward[g] = (float)(g % 2);
            grp.finish[g] = (uint8_t)(g % 3);
            grp.status[g] = (uint8_t)(g % 2 ? REWARD_SANDBOX_CPU : REWARD_OK);
            for (int k = 0; k < grp.n_components; k++) grp.reward_comp[g * grp.n_components + k] = 0.5f * (float)k;
        }
        for (int64_t i = 0; i < n; i++) {
            grp.tokens[i] = (int32_t)((x = x * 1103515245u + 12345u) % 98);
            grp.old_logprobs[i] = -(float)(x % 1000) / 100.0f;
        }
        const uint8_t *msg;
        size_t len;
        if (wire_encode_group(c, &grp, &msg, &len) != WIRE_OK) die("encode failed");
        char name[64];
        snprintf(name, sizeof name, "group_G%d_P%d_C%d.zst", grp.G, grp.prompt_len, grp.n_components);
        seed("wire", name, msg, len);
        /* the record itself, for the "inside a valid frame" path */
        const unsigned long long raw = ZSTD_getFrameContentSize(msg, len);
        uint8_t *rbuf = xmalloc((size_t)raw);
        if (ZSTD_decompress(rbuf, (size_t)raw, msg, len) != raw) die("decompress failed");
        snprintf(name, sizeof name, "record_G%d_P%d_C%d.msgpack", grp.G, grp.prompt_len, grp.n_components);
        seed("wire", name, rbuf, (size_t)raw);
        xfree(rbuf);
        group_free(&grp);
    }
    wire_codec_free(c);
}

/* ---- headers: weight headers, control and checksum messages */
static void header_seeds(void) {
    float params[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    uint8_t h[WEIGHTS_HEADER_BYTES];
    WeightsHeader wh = weights_header_make(params, 10, 3, 16);
    weights_header_encode(&wh, h);
    seed("headers", "weights_10_chunk4", h, sizeof h);
    wh = weights_header_make(NULL, 0, 0, 0);
    weights_header_encode(&wh, h);
    seed("headers", "weights_empty", h, sizeof h);
    WeightsHeader big;
    memset(&big, 0, sizeof big);
    weights_header_layout(&big, 1234567, WEIGHTS_MAX_CHUNK_BYTES);
    big.policy_version = 99;
    weights_header_encode(&big, h);
    seed("headers", "weights_1234567_maxchunk", h, sizeof h);
    uint8_t m[WIRE_CONTROL_BYTES];
    wire_control_encode(WIRE_CMD_STOP, 0, m);
    seed("headers", "control_stop", m, sizeof m);
    wire_control_encode(WIRE_CMD_WEIGHTS, 42, m);
    seed("headers", "control_weights", m, sizeof m);
    wire_checksum_encode(42, 0x0123456789abcdefull, m);
    seed("headers", "checksum", m, sizeof m);
}

/* Reads a whole file (caller frees). */
static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = xfopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = xmalloc(sz > 0 ? (size_t)sz : 1);
    if (fread(b, 1, (size_t)sz, f) != (size_t)sz) die("read %s failed", path);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* Writes c via ckpt_write to a scratch file under /tmp and copies it in. */
static void ckpt_seed(const Checkpoint *c, const char *name) {
    char tmp[256], err[512];
    snprintf(tmp, sizeof tmp, "/tmp/grpo_make_seeds.%ld.ckpt", (long)getpid());
    if (ckpt_write(c, tmp, err, sizeof err)) die("%s", err);
    size_t n;
    uint8_t *b = slurp(tmp, &n);
    seed("checkpoint", name, b, n);
    xfree(b);
    unlink(tmp);
}

/* ---- checkpoint and tokenizer */
static void ckpt_seeds(void) {
    static Tokenizer tok;
    tokenizer_init_char(&tok);
    size_t tn = tokenizer_serialize(&tok, NULL);
    uint8_t *tb = xmalloc(tn);
    tokenizer_serialize(&tok, tb);
    /* "char98" and "digits16" (no suffix) are version-1 blobs written by
     * the old encoder: kept in the corpus as they are, for old checkpoints */
    seed("tokenizer", "char98_v2", tb, tn);
    /* a small vocabulary: the specials and "0123456789+-=" */
    static Tokenizer small;
    tokenizer_init_char(&small);
    small.vocab_size = 3;
    for (int b = 0; b < 256; b++) small.byte_to_id[b] = -1;
    const char *chars = "0123456789+-=";
    for (const char *p = chars; *p; p++) {
        small.char_of[small.vocab_size] = (uint8_t)*p;
        small.byte_to_id[(unsigned char)*p] = small.vocab_size++;
    }
    size_t sn = tokenizer_serialize(&small, NULL);
    uint8_t *sb = xmalloc(sn);
    tokenizer_serialize(&small, sb);
    seed("tokenizer", "digits16_v2", sb, sn);
    xfree(sb);

    const ModelConfig cfgs[] = {
        {98, 8, 1, 2, 1, 8, 16, 1, 10000.0f, 1e-5f, MODEL_HEAD_LM},
        {98, 4, 2, 1, 1, 4, 8, 0, 500.0f, 1e-6f, MODEL_HEAD_LM},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        Model m;
        model_init(&m, &cfgs[i]);
        model_init_weights(&m, 1 + i);
        Checkpoint c;
        ckpt_init(&c);
        ckpt_put_model(&c, &m, &tok);
        if (i == 1) {
            const uint8_t step[16] = {5, 0, 0, 0, 0, 0, 0, 0, 7};
            ckpt_put(&c, "STEP", step, sizeof step);
            ckpt_put(&c, "META", "[run]\nseed = 1\n", 15);
        }
        char name[64];
        snprintf(name, sizeof name, "model_D%d_L%d%s", cfgs[i].dim, cfgs[i].n_layers,
                 cfgs[i].tied_embeddings ? "_tied" : "");
        ckpt_seed(&c, name);
        ckpt_free(&c);
        model_free(&m);
    }
    /* Regression: a CONF whose parameter count wraps 2^64 to 392 (= V*D):
     * V 98, D 4, L 2^31-1, NH 1, NKV 1, HF 715827877, tied. Accepting it
     * gave a 392-float buffer for a model that addresses 2^64 floats. */
    {
        uint8_t conf[40];
        const uint32_t ints[8] = {98, 4, 2147483647u, 1, 1, 715827877u, 16, 1};
        for (int i = 0; i < 8; i++)
            for (int k = 0; k < 4; k++) conf[4 * i + k] = (uint8_t)(ints[i] >> (8 * k));
        const float f[2] = {10000.0f, 1e-5f};
        memcpy(conf + 32, f, 8);
        Checkpoint c;
        ckpt_init(&c);
        ckpt_put(&c, "CONF", conf, sizeof conf);
        ckpt_put(&c, "TOKN", tb, tn);
        float *parm = xcalloc(392, sizeof(float));
        ckpt_put(&c, "PARM", parm, 392 * sizeof(float));
        xfree(parm);
        ckpt_seed(&c, "regress_conf_param_count_wraps");
        ckpt_free(&c);
    }
    {
        Checkpoint c;
        ckpt_init(&c);
        ckpt_put(&c, "META", "x", 1);
        ckpt_seed(&c, "meta_only");
        ckpt_free(&c);
    }
    xfree(tb);
}

/* ---- config: INI files, some with overrides after a NUL */
static void config_seeds(void) {
    seed_str("config", "empty", "");
    seed_str("config", "model",
             "; a small model\n[run]\nseed = 7\ndir = runs/x\n[model]\ndim = 64\nn_layers = 2\n"
             "n_heads = 4\nn_kv_heads = 2\nhidden_dim = 176\n");
    seed_str("config", "grpo",
             "[task]\nname = countdown\ncountdown_min = 2\n[grpo]\nalgo = reinforce_baseline\n"
             "adv_std = sample\nloss_norm = token\ngroup_size = 4\nminibatches = 2\n"
             "prompts_per_step = 8\nlr = 3e-5\nlr_min = 1e-6\n[sampler]\nstop = \"\\n\"\n"
             "temperature = 0.7\ntop_p = 0.95\n");
    const char over[] = "[eval]\npass_k = 4\n\0grpo.steps=50\0run.dir=/tmp/a b\0sampler.stop=\"\"";
    seed("config", "overrides", over, sizeof over - 1);
    /* Regressions: override values the INI dump could not hold (a line
     * break injected "[sft] steps"; " ;" or a leading ';' cut the value; quotes and
     * surrounding blanks were stripped on reload). */
    const char nl[] = "[eval]\npass_k = 4\n\0grpo.steps=50\0run.dir=sd1\n[sft]\nsteps=1";
    seed("config", "regress_override_newline", nl, sizeof nl - 1);
    const char semi[] = "\0run.dir=a ;b";
    seed("config", "regress_override_semicolon", semi, sizeof semi - 1);
    const char semi0[] = "\0run.dir=;j;b";
    seed("config", "regress_override_semicolon_first", semi0, sizeof semi0 - 1);
    char longdir[260] = "\0run.dir=\" ";
    memset(longdir + 11, 'd', 189);
    longdir[200] = '"';
    seed("config", "regress_override_long_quoted", longdir, 201);
    const char stop15[] = "\0sampler.stop=\" abcdefghijklmn\"";
    seed("config", "regress_override_stop_quoted_full", stop15, sizeof stop15 - 1);
    const char quoted[] = "\0sampler.stop=\"\"x\"\"\0run.dir= lead and trail ";
    seed("config", "regress_override_quotes_blanks", quoted, sizeof quoted - 1);
    /* the dump of the defaults */
    seed_str("config", "defaults_dump",
             "[run]\nseed = 1234 ; run seed\nblas_threads = 1\n[sft]\nsteps = 3000\n"
             "batch_size = 64\nlr = 2e-3\nadam_eps = 1e-8\n[eval]\nprompts = 500\n");
}

/* ---- jsonl data files */
static void jsonl_seeds(void) {
    seed_str("jsonl", "numbers",
             "{\"prompt\": \"2+2=\", \"answer\": \"4\"}\n"
             "{\"prompt\": \"1000-1=\", \"answer\": \"999\"}\n"
             "\n"
             "{\"prompt\": \"big\", \"answer\": \"1,000,000.50\", \"note\": [1, 2]}\n"
             "{\"prompt\": \"neg\", \"answer\": \"-0.0\"}\n");
    seed_str("jsonl", "text",
             "{\"prompt\": \"capital of France?\", \"answer\": \"Paris\"}\n"
             "{\"answer\": \"\\u00e9t\\u00e9\", \"prompt\": \"summer (fr)\"}\n"
             "{\"prompt\": \"tab\\tand\\nnewline\", \"answer\": \" spaced \"}\n");
    seed_str("jsonl", "one", "{\"prompt\":\"p\",\"answer\":\"+007\"}");
}

/* ---- comparison pairs for the reward model */
static void comparisons_seeds(void) {
    seed_str("comparisons", "pairs",
             "{\"prompt\": \"abcd:\", \"chosen\": \"aabh\", \"rejected\": \"bcdh\"}\n"
             "\n"
             "{\"prompt\": \"\", \"chosen\": \"x\", \"rejected\": \"y\", \"note\": 1}\n");
    seed_str("comparisons", "degenerate",
             "{\"prompt\": \"p\", \"chosen\": \"\", \"rejected\": \"b\"}\n"
             "{\"prompt\": \"p\", \"chosen\": \"s\", \"rejected\": \"s\"}\n"
             "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"bbbbbbbbbbbbbbbbbbbbbbbbb\"}\n"
             "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}\n");
    seed_str("comparisons", "bad", "{\"prompt\": \"p\", \"chosen\": 5, \"rejected\": \"b\"}\n");
}

/* ---- countdown completions: byte 0 picks the item (top bit: own prompt) */
static void countdown_seeds(void) {
    seed_str("countdown", "simple", "\x01" "25*2-7+3");
    seed_str("countdown", "parens", "\x02" "(3+7)*(25-2)/5");
    seed_str("countdown", "own_prompt", "\x80" "3,7,25,2>46=\n25*2-7+3");
    seed_str("countdown", "own_prompt_div", "\x81" "6,4>1=\n(6-4)/2");
    seed_str("countdown", "deep", "\x03" "((((((((1))))))))+2*3");
    seed_str("countdown", "overflow", "\x04" "999999999*999999999*999999999*999999999");
}

/* ---- rs: rejection-sample share messages */
static void rs_seeds(void) {
    RsStats st = {0};
    RsRecords rs = {0};
    uint8_t *m;
    size_t n;
    char err[300];
    st.cat[RS_CAT_ADD] = (RsCount){8, 2, 2, 1};
    if (rs_encode(&st, &rs, &m, &n, err, sizeof err) != 0) die("%s", err);
    seed("rs", "empty_share", m, n);
    xfree(m);
    rs_records_push(&rs, 0, 1, 1.1f, "37+49=", "68");
    rs_records_push(&rs, 5, 0, 1.0f, "472+385=", "<think>=857</think><answer>857</answer>");
    if (rs_encode(&st, &rs, &m, &n, err, sizeof err) != 0) die("%s", err);
    seed("rs", "two_records", m, n);
    xfree(m);
    rs_records_free(&rs);
}

/* ---- model files of other programs (safetensors + config.json, llama2.c) */
static void copy_seed(const char *target, const char *name, const char *tmp) {
    size_t n;
    uint8_t *b = slurp(tmp, &n);
    seed(target, name, b, n);
    xfree(b);
    unlink(tmp);
}

static void model_file_seeds(void) {
    char tmp[256], err[512];
    snprintf(tmp, sizeof tmp, "/tmp/grpo_make_seeds.%ld.bin", (long)getpid());
    const float f[6] = {1.0f, -2.0f, 0.5f, 3.0f, 0.25f, -1.0f};
    const uint16_t h[4] = {0x3c00, 0xc000, 0x3800, 0x7bff}, b[2] = {0x3f80, 0xc040};
    StWriteTensor t[3] = {{"model.norm.weight", ST_F32, 2, {2, 3}, f},
                          {"a", ST_F16, 1, {4}, h},
                          {"lm_head.weight", ST_BF16, 2, {1, 2}, b}};
    if (st_write(tmp, t, 3, "pt", err, sizeof err)) die("%s", err);
    copy_seed("safetensors", "three_dtypes", tmp);
    if (st_write(tmp, t, 0, NULL, err, sizeof err)) die("%s", err);
    copy_seed("safetensors", "empty", tmp);
    seed_str("safetensors", "config_json",
             "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", "
             "\"hidden_size\": 8, \"intermediate_size\": 12, \"num_hidden_layers\": 1, "
             "\"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"rms_norm_eps\": 1e-05, "
             "\"rope_theta\": 10000.0, \"vocab_size\": 4, \"tie_word_embeddings\": true, "
             "\"max_position_embeddings\": 8, \"hidden_act\": \"silu\", "
             "\"bos_token_id\": 1, \"eos_token_id\": [2, 3], \"rope_scaling\": null}");

    ModelConfig c = {.vocab_size = 4, .dim = 4, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1,
                     .hidden_dim = 4, .max_seq_len = 2, .tied_embeddings = 0,
                     .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    Model m;
    model_init(&m, &c);
    model_init_weights(&m, 1);
    if (llama2c_write(&m, LLAMA2C_LEGACY, tmp, err, sizeof err)) die("%s", err);
    copy_seed("llama2c", "legacy_untied", tmp);
    if (llama2c_write(&m, LLAMA2C_V1, tmp, err, sizeof err)) die("%s", err);
    copy_seed("llama2c", "v1_untied", tmp);
    model_free(&m);
    c.tied_embeddings = 1;
    model_init(&m, &c);
    model_init_weights(&m, 2);
    if (llama2c_write(&m, LLAMA2C_LEGACY, tmp, err, sizeof err)) die("%s", err);
    copy_seed("llama2c", "legacy_tied", tmp);
    model_free(&m);
    /* version 2 (Q8_0), group size 2, tied: 256-byte header, norms
     * (2 x 4 + 4 floats), then wte and each layer matrix as int8 + scales */
    uint8_t v2[1024] = {0};
    const int32_t hdr[9] = {0x616b3432, 2, 4, 4, 1, 2, 1, 4, 2};
    memcpy(v2, hdr, sizeof hdr);
    v2[36] = 1;
    const int32_t gs = 2;
    memcpy(v2 + 37, &gs, 4);
    size_t off = 256 + 4 * 12;
    const int numel[8] = {16, 16, 8, 8, 16, 16, 16, 16}; /* wte wq wk wv wo w1 w2 w3 */
    for (int i = 0; i < 8; i++) {
        for (int j = 0; j < numel[i]; j++) v2[off + j] = (uint8_t)(j * 7 - 20);
        off += (size_t)numel[i];
        for (int g = 0; g < numel[i] / gs; g++) {
            const float s = 0.01f * (float)(g + 1);
            memcpy(v2 + off, &s, 4);
            off += 4;
        }
    }
    seed("llama2c", "v2_q80_tied", v2, off);
}

/* ---- tokenizer files (fuzz_tokenizer_json) and their blobs (fuzz_tokenizer) */

/* A byte-level tokenizer.json: the 256 byte pieces through GPT-2's
 * byte-to-unicode map (id = byte), three merges and two added tokens. */
static char *byte_level_json(void) {
    char *buf = xmalloc(1 << 14), *w = buf;
    w += sprintf(w, "{\"added_tokens\": [{\"id\": 259, \"content\": \"<|endoftext|>\", "
                    "\"special\": true}, {\"id\": 260, \"content\": \"[x]\", \"special\": "
                    "false}], \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": "
                    "{\"type\": \"BPE\", \"vocab\": {");
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        unsigned cp = printable ? (unsigned)b : 256u + (unsigned)n++;
        char u[4];
        int k = cp < 0x80 ? (u[0] = (char)cp, 1)
                          : (u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), 2);
        const char *esc = cp == '"' || cp == '\\' ? "\\" : "";
        w += sprintf(w, "\"%s%.*s\": %d, ", esc, k, u, b);
    }
    w += sprintf(w, "\"he\": 256, \"\xc4\xa0t\": 257, \"\xc4\xa0the\": 258}, \"merges\": "
                    "[\"h e\", \"\xc4\xa0 t\", [\"\xc4\xa0t\", \"he\"]]}}");
    return buf;
}

static void tokenizer_file_seeds(void) {
    char *bl = byte_level_json();
    seed_str("tokenizer_json", "byte_level.json", bl);
    /* the same with Llama 3's pre-tokenizer (a Split with its regex) */
    const char *from = "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}";
    const char *to =
        "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
        "\"pattern\": {\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?"
        "\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|"
        "\\\\s+(?!\\\\S)|\\\\s+\"}}, {\"type\": \"ByteLevel\", \"use_regex\": false}]}";
    char *at = strstr(bl, from), *l3 = xmalloc(strlen(bl) + strlen(to) + 1);
    if (!at) die("tokenizer seed: no pre_tokenizer to replace");
    sprintf(l3, "%.*s%s%s", (int)(at - bl), bl, to, at + strlen(from));
    seed_str("tokenizer_json", "byte_level_llama3.json", l3);
    xfree(l3);
    const char *sp = "{\"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true}, "
                     "{\"id\": 1, \"content\": \"<s>\", \"special\": true}, {\"id\": 2, "
                     "\"content\": \"</s>\", \"special\": true}], \"normalizer\": {\"type\": "
                     "\"Prepend\", \"prepend\": \"\xe2\x96\x81\"}, \"model\": {\"type\": \"BPE\", "
                     "\"byte_fallback\": true, \"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2, "
                     "\"<0x41>\": 3, \"<0x20>\": 4, \"a\": 5, \"b\": 6, \"\xe2\x96\x81\": 7, \"ab\": 8, "
                     "\"\xe2\x96\x81" "ab\": 9}, \"merges\": [\"a b\", \"\xe2\x96\x81 ab\"]}}";
    seed_str("tokenizer_json", "sentencepiece.json", sp);
    /* tokenizer.bin: <unk>, BOS, EOS, the 256 byte tokens, " ", "a", "b", " a", "ab" */
    uint8_t *bin = xmalloc(1 << 14), *w = bin + 4;
    const char *extra[] = {" ", "a", "b", " a", "ab"};
    const float score[] = {-5, -5, -5, -2, -1};
    for (int id = 0; id < 259 + 5; id++) {
        char tmp[8];
        const char *p = tmp;
        float sc = 0;
        if (id == 0) p = "<unk>";
        else if (id == 1) p = "\n<s>\n";
        else if (id == 2) p = "\n</s>\n";
        else if (id < 259) snprintf(tmp, sizeof tmp, "<0x%02X>", id - 3);
        else {
            p = extra[id - 259];
            sc = score[id - 259];
        }
        uint32_t len = (uint32_t)strlen(p);
        memcpy(w, &sc, 4);
        memcpy(w + 4, &len, 4);
        memcpy(w + 8, p, len);
        w += 8 + len;
    }
    const uint32_t maxlen = 6;
    memcpy(bin, &maxlen, 4);
    seed("tokenizer_json", "llama2c.bin", bin, (size_t)(w - bin));
    /* and the checkpoint blobs of all three */
    Tokenizer t;
    char err[256];
    const char *names[3] = {"byte_level_v2", "sentencepiece_v2", "llama2c_v2"};
    for (int k = 0; k < 3; k++) {
        int rc = k == 0   ? tokenizer_parse_json(&t, bl, strlen(bl), "seed", NULL, err, sizeof err)
                 : k == 1 ? tokenizer_parse_json(&t, sp, strlen(sp), "seed", NULL, err, sizeof err)
                          : tokenizer_parse_llama2c(&t, bin, (size_t)(w - bin), "seed", err,
                                                    sizeof err);
        if (rc) die("tokenizer seed: %s", err);
        size_t n = tokenizer_serialize(&t, NULL);
        uint8_t *b = xmalloc(n);
        tokenizer_serialize(&t, b);
        seed("tokenizer", names[k], b, n);
        xfree(b);
        tokenizer_free(&t);
    }
    xfree(bin);
    xfree(bl);
}

int main(int argc, char **argv) {
    if (argc != 2) die("usage: make_seeds DIR (e.g. tests/fuzz/corpus)");
    root = argv[1];
    if (mkdir(root, 0755) != 0 && errno != EEXIST) die("mkdir %s: %s", root, strerror(errno));
    wire_seeds();
    header_seeds();
    ckpt_seeds();
    tokenizer_file_seeds();
    config_seeds();
    jsonl_seeds();
    comparisons_seeds();
    countdown_seeds();
    rs_seeds();
    model_file_seeds();
    return 0;
}
