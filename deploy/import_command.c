/* import_command.c: `grpo import` and `grpo export` (import_command.h).
 * The file formats live in common/ (model_formats.h); this file picks one,
 * attaches a tokenizer and writes the checkpoint the other commands load. */
#include "import_command.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "model_formats.h"
#include "util.h"

int import_tokenizer(const Model *m, const char *source, const char *file, Tokenizer *tok,
                     char *err, size_t errlen) {
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
    if (tok->vocab_size == m->cfg.vocab_size) return 0;
    set_err(err, errlen,
            "%s has %d tokens but the model %s has a vocabulary of %d (embedding rows): not its "
            "tokenizer, or a padded vocabulary, which is not supported",
            file, tok->vocab_size, source, m->cfg.vocab_size);
    tokenizer_free(tok);
    return -1;
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
    if (import_tokenizer(&m, a->source, tok_file, tok, err, sizeof err) != 0) die("%s", err);
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
    Model m;
    Tokenizer *tok = xmalloc(sizeof *tok);
    ckpt_load_model_or_die(a->checkpoint, &m, tok);
    char err[1500];
    int rc = version >= 0 ? llama2c_write(&m, version, a->out, err, sizeof err)
                          : hf_write_dir(&m, a->out, tok->bos_id, tok->eos_id, err, sizeof err);
    if (rc != 0) die("%s", err);
    /* the tokenizer beside an hf directory's weights, when it has a
     * tokenizer.json form; else say why there is none */
    char why[600] = "llama2.c's tokenizer.bin is not written by export";
    int wrote = version < 0 && tokenizer_write_json(tok, a->out, why, sizeof why) == 0;
    printf("export: %s -> %s (%s, %zu parameters; %s%s)\n", a->checkpoint, a->out, a->format,
           m.n_params, wrote ? "tokenizer.json and tokenizer_config.json written" : "no tokenizer file: ",
           wrote ? "" : why);
    model_free(&m);
    tokenizer_free(tok);
    xfree(tok);
    return 0;
}
