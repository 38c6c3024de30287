/* tokenizer_json_write.c: a BPE tokenizer as a Hugging Face tokenizer.json
 * plus the tokenizer_config.json that names its special tokens, what
 * `grpo export --format hf` writes beside the weights. The files are
 * written so that tokenizer_json.c reads them back to the same tokenizer
 * (tested: equal checkpoint blobs), and in the layout transformers'
 * tokenizers library expects for the two kinds:
 *   byte-level BPE: vocab and merges through GPT-2's byte-to-unicode map,
 *     added tokens with their text as is, a ByteLevel pre-tokenizer (or
 *     Llama 3's Split first) and decoder;
 *   SentencePiece BPE: "▁" for a space, <0xNN> byte-fallback tokens, the
 *     Llama 2 normalizer (Prepend "▁" when the dummy prefix is on, Replace
 *     " " by "▁") and its decoder.
 * Not written: the character tokenizer (no tokenizer.json form: the
 * project's own checkpoint holds it), and a SentencePiece tokenizer read
 * from tokenizer.bin, which has scores instead of merges (tokenizer.json's
 * BPE needs merges; llama2.c's tokenizer.bin is its file). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "tokenizer_impl.h"
#include "util.h"

/* Llama 3's pre-tokenizer pattern (the one tokenizer_json.c recognises) */
static const char llama3_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Token id's text as tokenizer.json spells it (malloc'd). */
static char *json_name(const Tokenizer *t, int id) {
    /* the stored text: tokenizer_piece gives a special token's as "" (it
     * decodes to nothing) and a byte-fallback token's as its byte */
    const char *p = t->arena + t->offs[id];
    const int n = (int)(t->offs[id + 1] - t->offs[id]);
    char *out = xmalloc((size_t)n * 4 + 1);
    size_t k = 0;
    const int raw = (t->flags[id] & (TOKF_ADDED | TOKF_SPECIAL | TOKF_BYTE)) != 0;
    for (int i = 0; i < n; i++) {
        const unsigned char b = (unsigned char)p[i];
        if (raw) out[k++] = (char)b;
        else if (t->kind == TOKENIZER_BYTE_BPE) k += (size_t)tok_utf8_put(tok_byte_to_cp(b), out + k);
        else if (b == ' ') memcpy(out + k, "\xe2\x96\x81", 3), k += 3;
        else out[k++] = (char)b;
    }
    out[k] = '\0';
    return out;
}

static json_t *obj_type(const char *type) {
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    return o;
}

static json_t *build(const Tokenizer *t, char **names) {
    json_t *root = json_object(), *added = json_array(), *vocab = json_object();
    json_t *merges = json_array();
    json_object_set_new(root, "version", json_string("1.0"));
    for (int id = 0; id < t->vocab_size; id++) {
        const int in_added = t->kind == TOKENIZER_BYTE_BPE ? (t->flags[id] & TOKF_ADDED) != 0
                                                           : (t->flags[id] & TOKF_SPECIAL) != 0;
        if (in_added) {
            json_t *a = json_object();
            json_object_set_new(a, "id", json_integer(id));
            json_object_set_new(a, "content", json_string(names[id]));
            json_object_set_new(a, "special", json_boolean(t->flags[id] & TOKF_SPECIAL));
            json_array_append_new(added, a);
        }
        /* SentencePiece keeps its specials in the vocab too, as Llama 2's file does */
        if (!in_added || t->kind == TOKENIZER_SP_BPE)
            json_object_set_new(vocab, names[id], json_integer(id));
    }
    for (int m = 0; m < t->n_merges; m++) {
        json_t *pair = json_array();
        json_array_append_new(pair, json_string(names[t->merges[3 * m]]));
        json_array_append_new(pair, json_string(names[t->merges[3 * m + 1]]));
        json_array_append_new(merges, pair);
    }
    json_object_set_new(root, "added_tokens", added);
    json_t *model = obj_type("BPE");
    json_object_set_new(model, "vocab", vocab);
    json_object_set_new(model, "merges", merges);
    json_object_set_new(model, "ignore_merges", json_boolean(t->ignore_merges));
    if (t->kind == TOKENIZER_BYTE_BPE) {
        json_t *bl = obj_type("ByteLevel");
        json_object_set_new(bl, "add_prefix_space", json_false());
        json_object_set_new(bl, "trim_offsets", json_true());
        json_object_set_new(bl, "use_regex", json_boolean(!t->llama3_split));
        if (t->llama3_split) {
            json_t *seq = obj_type("Sequence"), *list = json_array(), *split = obj_type("Split");
            json_t *pat = json_object();
            json_object_set_new(pat, "Regex", json_string(llama3_regex));
            json_object_set_new(split, "pattern", pat);
            json_object_set_new(split, "behavior", json_string("Isolated"));
            json_object_set_new(split, "invert", json_false());
            json_array_append_new(list, split);
            json_array_append_new(list, bl);
            json_object_set_new(seq, "pretokenizers", list);
            json_object_set_new(root, "pre_tokenizer", seq);
        } else {
            json_object_set_new(root, "pre_tokenizer", bl);
        }
        json_object_set_new(root, "decoder", obj_type("ByteLevel"));
    } else {
        int fallback = 0;
        for (int id = 0; id < t->vocab_size; id++) fallback |= (t->flags[id] & TOKF_BYTE) != 0;
        json_object_set_new(model, "byte_fallback", json_boolean(fallback));
        if (t->unk_id >= 0) json_object_set_new(model, "unk_token", json_string(names[t->unk_id]));
        json_t *norm = obj_type("Sequence"), *nl = json_array();
        if (t->sp_prefix) {
            json_t *p = obj_type("Prepend");
            json_object_set_new(p, "prepend", json_string("\xe2\x96\x81"));
            json_array_append_new(nl, p);
        }
        json_t *r = obj_type("Replace"), *pat = json_object();
        json_object_set_new(pat, "String", json_string(" "));
        json_object_set_new(r, "pattern", pat);
        json_object_set_new(r, "content", json_string("\xe2\x96\x81"));
        json_array_append_new(nl, r);
        json_object_set_new(norm, "normalizers", nl);
        json_object_set_new(root, "normalizer", norm);
        /* the reader's marker when neither a prefix nor byte fallback says
         * SentencePiece (and what the decoder does anyway) */
        json_t *meta = obj_type("Metaspace");
        json_object_set_new(meta, "replacement", json_string("\xe2\x96\x81"));
        json_object_set_new(meta, "prepend_scheme", json_string(t->sp_prefix ? "first" : "never"));
        json_object_set_new(meta, "split", json_false());
        json_object_set_new(root, "decoder", meta);
    }
    json_object_set_new(root, "model", model);
    return root;
}

static int write_json(json_t *j, const char *path, char *err, size_t errlen) {
    char *text = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (!text) {
        set_err(err, errlen, "%s: could not build the JSON (out of memory)", path);
        return -1;
    }
    int rc = atomic_file_write(path, text, strlen(text), err, errlen);
    free(text);
    return rc;
}

int tokenizer_write_json(const Tokenizer *t, const char *dir, char *err, size_t errlen) {
    if (t->kind == TOKENIZER_CHAR) {
        set_err(err, errlen, "the character tokenizer has no tokenizer.json form (the project's "
                "checkpoint holds it)");
        return -1;
    }
    if (t->kind == TOKENIZER_SP_BPE && t->scores) {
        set_err(err, errlen, "this SentencePiece tokenizer came from a tokenizer.bin: it has "
                "scores, not the merges a tokenizer.json needs (export --format llama2c "
                "writes its tokenizer.bin)");
        return -1;
    }
    char **names = xmalloc(sizeof *names * (size_t)t->vocab_size);
    for (int id = 0; id < t->vocab_size; id++) names[id] = json_name(t, id);
    json_t *root = build(t, names), *cfg = json_object();
    json_object_set_new(cfg, "bos_token", json_string(names[t->bos_id]));
    json_object_set_new(cfg, "eos_token", json_string(names[t->eos_id]));
    if (t->pad_id != t->eos_id) json_object_set_new(cfg, "pad_token", json_string(names[t->pad_id]));
    if (t->unk_id >= 0) json_object_set_new(cfg, "unk_token", json_string(names[t->unk_id]));
    json_object_set_new(cfg, "tokenizer_class", json_string("PreTrainedTokenizerFast"));
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    int rc = write_json(root, path, err, errlen);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (rc == 0) rc = write_json(cfg, path, err, errlen);
    json_decref(root);
    json_decref(cfg);
    for (int id = 0; id < t->vocab_size; id++) xfree(names[id]);
    xfree(names);
    return rc;
}
