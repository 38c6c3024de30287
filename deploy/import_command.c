/* import_command.c: `grpo import` and `grpo export` (import_command.h).
 * The file formats live in common/ (model_formats.h); this file picks one,
 * attaches a tokenizer and writes the checkpoint the other commands load. */
#include "import_command.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "checkpoint.h"
#include "model_formats.h"
#include "util.h"

int import_tokenizer(Model *m, const char *source, const char *file, Tokenizer *tok,
                     int *dropped, char *err, size_t errlen) {
    *dropped = 0;
    if (!file) {
        tokenizer_init_char(tok);
        if (m->cfg.vocab_size == tok->vocab_size) return 0;
        set_err(err, errlen,
                "%s: the model has a vocabulary of %d tokens, not the character tokenizer's %d: "
                "give its tokenizer with --tokenizer FILE (llama2.c's tokenizer.bin, or a Hugging "
                "Face tokenizer.json, which an hf directory holding one gives by itself)",
                source, m->cfg.vocab_size, tok->vocab_size);
        return -1;
    }
    if (tokenizer_load_file(tok, file, err, errlen) != 0) return -1;
    const int V = m->cfg.vocab_size;
    if (tok->vocab_size > V) {
        set_err(err, errlen,
                "%s has %d tokens but the model %s has only %d embedding rows: ids %d..%d would "
                "have no row, so this is not its tokenizer (a tokenizer with tokens added after "
                "the model was trained needs the model resized first)",
                file, tok->vocab_size, source, V, V, tok->vocab_size - 1);
        tokenizer_free(tok);
        return -1;
    }
    /* a padded vocabulary: rows past the tokenizer's last id have no text */
    if (tok->vocab_size < V) {
        if (model_trim_vocab(m, tok->vocab_size, err, errlen) != 0) {
            tokenizer_free(tok);
            return -1;
        }
        *dropped = V - tok->vocab_size;
    }
    return 0;
}

int import_command(Config *cfg, const CliArgs *a) {
    if (!a->from || !a->out)
        die("import needs --from llama2c FILE or --from hf DIR, and --out FILE.ckpt");
    Model m;
    char err[1500];
    int rc, version = -1;
    HfExtra hf = {.bos_token_id = -1, .eos_token_id = -1};
    if (!strcmp(a->from, "llama2c")) {
        rc = llama2c_read(a->source, &m, &version, err, sizeof err);
    } else if (!strcmp(a->from, "hf")) {
        rc = hf_read_dir(a->source, &m, &hf, err, sizeof err);
    } else {
        die("import --from '%s': the formats are llama2c (a .bin file) and hf (a directory with "
            "config.json and safetensors)", a->from);
    }
    if (rc != 0) die("%s", err);
    Tokenizer *tok = xmalloc(sizeof *tok);
    /* the tokenizer: --tokenizer FILE, else an hf directory's own
     * tokenizer.json, else the character tokenizer if the sizes agree */
    char found[1200];
    const char *tok_file = a->tokenizer;
    if (!tok_file && !strcmp(a->from, "hf")) {
        snprintf(found, sizeof found, "%s/tokenizer.json", a->source);
        if (access(found, R_OK) == 0) tok_file = found;
    }
    int dropped;
    if (import_tokenizer(&m, a->source, tok_file, tok, &dropped, err, sizeof err) != 0)
        die("%s", err);
    if (dropped)
        printf("import: note: %s has %d embedding rows, its tokenizer %d tokens: the %d padding "
               "rows (ids %d..%d, no text) are dropped from the embedding%s, so the softmax runs "
               "over the %d real tokens only (their logits are unchanged)\n",
               a->source, m.cfg.vocab_size + dropped, tok->vocab_size, dropped,
               tok->vocab_size, m.cfg.vocab_size + dropped - 1,
               m.cfg.tied_embeddings ? "" : " and the output head", tok->vocab_size);
    /* a model trained with other special ids would be fed ids it never
     * saw in those roles */
    if ((hf.bos_token_id >= 0 && hf.bos_token_id != tok->bos_id) ||
        (hf.eos_token_id >= 0 && hf.eos_token_id != tok->eos_id))
        fprintf(stderr, "warning: %s/config.json: bos_token_id %d / eos_token_id %d, but the "
                "tokenizer's are %d / %d\n", a->source, hf.bos_token_id, hf.eos_token_id,
                tok->bos_id, tok->eos_id);
    /* META as sft writes it (the effective config, [model] the imported
     * shape), after a comment saying where the weights came from */
    if (model_config_adopt(cfg, &m.cfg, a->source, err, sizeof err) != 0) die("%s", err);
    char *cfg_text = config_to_string(cfg);
    size_t ml = strlen(cfg_text) + strlen(a->source) + 64;
    char *meta = xmalloc(ml);
    snprintf(meta, ml, "; grpo import --from %s %s\n%s", a->from, a->source, cfg_text);
    Checkpoint ck;
    ckpt_init(&ck);
    ckpt_put_model(&ck, &m, tok);
    ckpt_put(&ck, "META", meta, strlen(meta));
    rc = ckpt_write(&ck, a->out, err, sizeof err);
    ckpt_free(&ck);
    xfree(meta);
    xfree(cfg_text);
    if (rc != 0) die("%s", err);
    const ModelConfig *c = &m.cfg;
    printf("import: %s (%s%s): %zu parameters, V %d D %d L %d heads %d/%d hidden %d seq %d%s "
           "-> %s\n", a->source, a->from,
           version == 0 ? " legacy" : version == 1 ? " v1" : version == 2 ? " v2 Q8_0" : "",
           m.n_params, c->vocab_size, c->dim, c->n_layers, c->n_heads, c->n_kv_heads,
           c->hidden_dim, c->max_seq_len, c->tied_embeddings ? " tied" : "", a->out);
    char desc[160];
    tokenizer_describe(tok, desc, sizeof desc);
    printf("import: tokenizer: %s%s%s\n", desc, tok_file ? " from " : "", tok_file ? tok_file : "");
    model_free(&m);
    tokenizer_free(tok);
    xfree(tok);
    return 0;
}

/* Where export --format llama2c puts tokenizer.bin: --tokenizer-out FILE,
 * else tokenizer.bin in the model file's directory (what run.c opens by
 * default when run there). */
static void tokenizer_bin_path(const CliArgs *a, char *out, size_t cap) {
    if (a->tokenizer_out) {
        snprintf(out, cap, "%s", a->tokenizer_out);
        return;
    }
    const char *slash = strrchr(a->out, '/');
    if (!slash) snprintf(out, cap, "tokenizer.bin");
    else snprintf(out, cap, "%.*s/tokenizer.bin", (int)(slash - a->out), a->out);
}

/* 1 if path holds exactly n bytes equal to buf. */
static int file_holds(const char *path, const uint8_t *buf, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int same = 1;
    uint8_t chunk[65536];
    size_t off = 0, k;
    while (same && (k = fread(chunk, 1, sizeof chunk, f)) > 0) {
        same = off + k <= n && memcmp(chunk, buf + off, k) == 0;
        off += k;
    }
    fclose(f);
    return same && off == n;
}

int export_command(Config *cfg, const CliArgs *a) {
    (void)cfg;
    if (!a->format || !a->checkpoint || !a->out)
        die("export needs --format llama2c|llama2c-v1|hf, --checkpoint FILE.ckpt and --out PATH");
    int version = !strcmp(a->format, "llama2c") ? LLAMA2C_LEGACY
                  : !strcmp(a->format, "llama2c-v1") ? LLAMA2C_V1
                  : !strcmp(a->format, "hf") ? -1 : -2;
    if (version == -2)
        die("export --format '%s': the formats are llama2c (legacy, what run.c reads), "
            "llama2c-v1 (export.py version 1) and hf (a directory)", a->format);
    if (version < 0 && a->tokenizer_out)
        die("export --tokenizer-out %s: only for --format llama2c / llama2c-v1 (--format hf "
            "writes tokenizer.json inside the --out directory)", a->tokenizer_out);
    Model m;
    Tokenizer *tok = xmalloc(sizeof *tok);
    ckpt_load_model_or_die(a->checkpoint, &m, tok);
    char err[1500], why[600] = "", tok_path[1200] = "";
    /* llama2.c: the tokenizer.bin is decided (and a clash refused) before
     * the model file is written, so a refusal leaves nothing half done */
    uint8_t *tok_bytes = NULL;
    size_t tok_n = 0;
    int tok_same = 0;
    if (version >= 0) {
        tokenizer_bin_path(a, tok_path, sizeof tok_path);
        if (tokenizer_llama2c_bytes(tok, &tok_bytes, &tok_n, why, sizeof why) != 0) {
            if (a->tokenizer_out)
                die("export --tokenizer-out %s: %s: %s", tok_path, a->checkpoint, why);
        } else {
            tok_same = file_holds(tok_path, tok_bytes, tok_n);
            /* the default name is shared: llama2.c's own directory holds
             * Llama 2's tokenizer.bin, which other models there need */
            if (!a->tokenizer_out && !tok_same && access(tok_path, F_OK) == 0)
                die("export: %s already exists and holds another tokenizer: not overwritten (other "
                    "models there may need it); give --tokenizer-out FILE, or remove it", tok_path);
        }
    }
    int rc = version >= 0 ? llama2c_write(&m, version, a->out, err, sizeof err)
                          : hf_write_dir(&m, a->out, tok->bos_id, tok->eos_id, err, sizeof err);
    if (rc != 0) die("%s", err);
    char wrote[2600];
    if (version < 0) {
        /* the tokenizer beside an hf directory's weights, when it has a
         * tokenizer.json form; else say why there is none */
        if (tokenizer_write_json(tok, a->out, why, sizeof why) == 0)
            snprintf(wrote, sizeof wrote, "tokenizer.json and tokenizer_config.json written");
        else
            snprintf(wrote, sizeof wrote, "no tokenizer file: %s", why);
    } else if (!tok_bytes) {
        snprintf(wrote, sizeof wrote, "no tokenizer.bin: %s; the model file alone is written",
                 why);
    } else if (tok_same) {
        snprintf(wrote, sizeof wrote, "%s already holds this tokenizer", tok_path);
    } else {
        if (atomic_file_write(tok_path, tok_bytes, tok_n, err, sizeof err) != 0) die("%s", err);
        snprintf(wrote, sizeof wrote, "tokenizer written to %s (run.c: -z %s)", tok_path,
                 tok_path);
    }
    printf("export: %s -> %s (%s, %zu parameters; %s)\n", a->checkpoint, a->out, a->format,
           m.n_params, wrote);
    xfree(tok_bytes);
    model_free(&m);
    tokenizer_free(tok);
    xfree(tok);
    return 0;
}
