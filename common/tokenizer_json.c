/* tokenizer_json.c: a Hugging Face tokenizer.json reader (BPE models).
 *
 * What is read:
 *   model.type "BPE", model.vocab (piece -> id), model.merges ("a b"
 *   strings or ["a", "b"] pairs, in rank order), model.byte_fallback,
 *   model.ignore_merges, model.unk_token; added_tokens (id, content,
 *   special); and the normalizer / pre_tokenizer / decoder only to tell the
 *   kind apart:
 *     a ByteLevel pre-tokenizer or decoder     -> TOKENIZER_BYTE_BPE; its
 *       pieces are mapped back through GPT-2's byte-to-unicode table
 *       (a piece that does not map, such as an added token, is kept as is);
 *       the pre-tokenizer is the GPT-2 split (tokenizer_bpe.c), or Llama 3's
 *       when a Split step carries exactly its regex; any other Split regex
 *       falls back to GPT-2's (ids may then differ from HF's, text still
 *       round-trips);
 *     byte_fallback, Metaspace or a Prepend normalizer -> TOKENIZER_SP_BPE;
 *       "▁" becomes a space; the dummy prefix is on with a Prepend
 *       normalizer or a Metaspace with add_prefix_space / prepend_scheme
 *       "first" or "always".
 * Special ids: BOS, EOS, PAD and UNK come from tokenizer_config.json beside
 * the file when it names them (bos_token etc., a string or {"content"}),
 * else BOS from the post_processor's TemplateProcessing (the first
 * SpecialToken of "single"), else by the usual names (below); PAD falls back
 * to EOS, UNK to model.unk_token or "<unk>". Ids must be 0..V-1 without
 * gaps or duplicates. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"
#include "util.h"

static const char *const bos_names[] = {"<s>", "<|begin_of_text|>", "<|startoftext|>", "<bos>",
                                        "<|bos|>", "<|endoftext|>", NULL};
static const char *const eos_names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>",
                                        "<|eos|>", "<|eot_id|>", "<|im_end|>", NULL};
/* Llama 3's pre-tokenizer pattern, as its tokenizer.json spells it */
static const char llama3_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *const pad_names[] = {"<pad>", "<|pad|>", "[PAD]", "<|padding|>", NULL};

/* The first node under j (itself included) whose "type" is name. */
static json_t *find_type(json_t *j, const char *name) {
    if (json_is_object(j)) {
        json_t *ty = json_object_get(j, "type");
        if (json_is_string(ty) && strcmp(json_string_value(ty), name) == 0) return j;
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            json_t *f = find_type(v, name);
            if (f) return f;
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            json_t *f = find_type(v, name);
            if (f) return f;
        }
    }
    return NULL;
}

typedef struct {
    json_t *vocab, *added;
    const char *path;
    char *err;
    size_t errlen;
} Src;

/* Id of the token whose content is name (vocab or added_tokens), or -1. */
static int token_id(const Src *s, const char *name) {
    size_t i;
    json_t *a;
    json_array_foreach(s->added, i, a) {
        json_t *c = json_object_get(a, "content");
        if (json_is_string(c) && strcmp(json_string_value(c), name) == 0)
            return (int)json_integer_value(json_object_get(a, "id"));
    }
    json_t *v = json_object_get(s->vocab, name);
    return json_is_integer(v) ? (int)json_integer_value(v) : -1;
}

/* config's key as a token name (a string or {"content": ...}), or NULL. */
static const char *config_name(json_t *config, const char *key) {
    json_t *v = json_object_get(config, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* *id from config key, else from the names; 0 or -1 with err. */
static int special(const Src *s, json_t *config, const char *key, const char *const *names,
                   int *id) {
    const char *name = config_name(config, key);
    if (name) {
        *id = token_id(s, name);
        if (*id < 0) {
            set_err(s->err, s->errlen, "%s: tokenizer_config.json names %s \"%s\", which is not a "
                    "token", s->path, key, name);
            return -1;
        }
        return 0;
    }
    if (*id >= 0) return 0;
    for (int i = 0; names && names[i] && *id < 0; i++) *id = token_id(s, names[i]);
    return 0;
}

/* Raw bytes of a byte-level piece, or -1 if it does not map. */
static int unmap_bytes(const char *p, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += (size_t)tok_utf8_next((const uint8_t *)p, n, i, &cp);
        int b = tok_cp_to_byte(cp);
        if (b < 0) return -1;
        out[k++] = (char)b;
    }
    return (int)k;
}

/* SentencePiece piece with "▁" as a space. */
static size_t sp_piece(const char *p, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 2 < n && memcmp(p + i, "\xe2\x96\x81", 3) == 0) {
            out[k++] = ' ';
            i += 2;
        } else {
            out[k++] = p[i];
        }
    }
    return k;
}

/* Resolves merge k into ids a, b and the result; 0 or -1 with err. */
static int resolve_merge(const Src *s, json_t *m, int k, int32_t *out) {
    char pair[2][TOK_MAX_PIECE * 4 + 1];
    if (json_is_string(m)) {
        const char *str = json_string_value(m), *sp = strchr(str, ' ');
        size_t la = sp ? (size_t)(sp - str) : 0, lb = sp ? strlen(sp + 1) : 0;
        if (!sp || la == 0 || lb == 0 || strchr(sp + 1, ' ') || la >= sizeof pair[0] ||
            lb >= sizeof pair[0]) {
            set_err(s->err, s->errlen, "%s: model.merges[%d] \"%.80s\" is not two tokens "
                    "separated by one space", s->path, k, str);
            return -1;
        }
        memcpy(pair[0], str, la);
        pair[0][la] = '\0';
        memcpy(pair[1], sp + 1, lb + 1);
    } else if (json_is_array(m) && json_array_size(m) == 2 &&
               json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1)) &&
               strlen(json_string_value(json_array_get(m, 0))) < sizeof pair[0] &&
               strlen(json_string_value(json_array_get(m, 1))) < sizeof pair[0]) {
        strcpy(pair[0], json_string_value(json_array_get(m, 0)));
        strcpy(pair[1], json_string_value(json_array_get(m, 1)));
    } else {
        set_err(s->err, s->errlen, "%s: model.merges[%d] is neither \"a b\" nor [\"a\", \"b\"]",
                s->path, k);
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(s->vocab, pair[i]);
        if (!json_is_integer(v)) {
            set_err(s->err, s->errlen, "%s: model.merges[%d] \"%.80s %.80s\": \"%.80s\" is not in "
                    "model.vocab", s->path, k, pair[0], pair[1], pair[i]);
            return -1;
        }
        out[i] = (int32_t)json_integer_value(v);
    }
    char *cat = xmalloc(strlen(pair[0]) + strlen(pair[1]) + 1);
    strcpy(cat, pair[0]);
    strcat(cat, pair[1]);
    json_t *r = json_object_get(s->vocab, cat);
    if (!json_is_integer(r))
        set_err(s->err, s->errlen, "%s: model.merges[%d] \"%.80s %.80s\": the merged token "
                "\"%.160s\" is not in model.vocab", s->path, k, pair[0], pair[1], cat);
    xfree(cat);
    if (!json_is_integer(r)) return -1;
    out[2] = (int32_t)json_integer_value(r);
    return 0;
}

/* Checks id for token name and records it in names; 0 or -1 with err. */
static int place(const Src *s, const char **names, int *V, json_int_t id, const char *name,
                 const char *where) {
    if (id < 0 || id >= TOK_MAX_VOCAB) {
        set_err(s->err, s->errlen, "%s: %s: \"%.80s\" has id %lld, outside 0..%d", s->path, where,
                name, (long long)id, TOK_MAX_VOCAB - 1);
        return -1;
    }
    if (names[id] && strcmp(names[id], name) != 0) {
        set_err(s->err, s->errlen, "%s: %s: id %lld is given to both \"%.80s\" and \"%.80s\"",
                s->path, where, (long long)id, names[id], name);
        return -1;
    }
    names[id] = name;
    if (id + 1 > *V) *V = (int)id + 1;
    return 0;
}

static int parse(Tokenizer *t, json_t *root, json_t *config, Src *s) {
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) {
        set_err(s->err, s->errlen, "%s: no \"model\" object: not a tokenizer.json", s->path);
        return -1;
    }
    json_t *type = json_object_get(model, "type");
    if (type && (!json_is_string(type) || strcmp(json_string_value(type), "BPE") != 0)) {
        set_err(s->err, s->errlen, "%s: model.type is %s%s%s: only BPE is supported", s->path,
                json_is_string(type) ? "\"" : "", json_is_string(type) ? json_string_value(type)
                                                                       : "not a string",
                json_is_string(type) ? "\"" : "");
        return -1;
    }
    s->vocab = json_object_get(model, "vocab");
    if (!json_is_object(s->vocab)) {
        set_err(s->err, s->errlen, "%s: model.vocab is missing or not an object", s->path);
        return -1;
    }
    json_t *merges = json_object_get(model, "merges");
    if (merges && !json_is_array(merges)) {
        set_err(s->err, s->errlen, "%s: model.merges is not an array", s->path);
        return -1;
    }
    s->added = json_object_get(root, "added_tokens");
    if (s->added && !json_is_array(s->added)) {
        set_err(s->err, s->errlen, "%s: added_tokens is not an array", s->path);
        return -1;
    }
    const int byte_level = find_type(json_object_get(root, "pre_tokenizer"), "ByteLevel") ||
                           find_type(json_object_get(root, "decoder"), "ByteLevel");
    json_t *norm = json_object_get(root, "normalizer");
    json_t *meta = find_type(json_object_get(root, "pre_tokenizer"), "Metaspace");
    if (!meta) meta = find_type(json_object_get(root, "decoder"), "Metaspace");
    const int fallback = json_is_true(json_object_get(model, "byte_fallback"));
    const int prepend = find_type(norm, "Prepend") != NULL;
    if (!byte_level && !fallback && !prepend && !meta) {
        set_err(s->err, s->errlen, "%s: neither a ByteLevel pre-tokenizer/decoder (GPT-2 style) "
                "nor SentencePiece markers (byte_fallback, Metaspace, a Prepend normalizer): this "
                "BPE flavour is not supported", s->path);
        return -1;
    }
    t->kind = byte_level ? TOKENIZER_BYTE_BPE : TOKENIZER_SP_BPE;
    if (!byte_level) {
        json_t *aps = json_object_get(meta, "add_prefix_space");
        json_t *scheme = json_object_get(meta, "prepend_scheme");
        t->sp_prefix = prepend || json_is_true(aps) ||
                       (json_is_string(scheme) && strcmp(json_string_value(scheme), "never") != 0);
    }
    t->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    json_t *split = find_type(json_object_get(root, "pre_tokenizer"), "Split");
    json_t *rx = json_object_get(json_object_get(split, "pattern"), "Regex");
    t->llama3_split = byte_level && json_is_string(rx) && strcmp(json_string_value(rx), llama3_regex) == 0;

    /* ids: vocab, then added_tokens (which may repeat a vocab entry) */
    const size_t nv = json_object_size(s->vocab), na = json_array_size(s->added);
    if (nv + na > TOK_MAX_VOCAB) {
        set_err(s->err, s->errlen, "%s: %zu tokens, over the bound of %d", s->path, nv + na,
                TOK_MAX_VOCAB);
        return -1;
    }
    /* the largest id first, so the tables are only as large as the vocabulary */
    json_int_t max_id = -1;
    const char *key;
    json_t *v;
    size_t i;
    json_object_foreach(s->vocab, key, v)
        if (json_is_integer(v) && json_integer_value(v) > max_id) max_id = json_integer_value(v);
    json_array_foreach(s->added, i, v) {
        json_t *id = json_object_get(v, "id");
        if (json_is_integer(id) && json_integer_value(id) > max_id) max_id = json_integer_value(id);
    }
    /* more ids than tokens: a gap, found before the tables are allocated */
    if (max_id < TOK_MAX_VOCAB && (size_t)max_id + 1 > nv + na) {
        set_err(s->err, s->errlen, "%s: ids run up to %lld but there are only %zu tokens "
                "(model.vocab and added_tokens leave a gap)", s->path, (long long)max_id, nv + na);
        return -1;
    }
    if (max_id >= TOK_MAX_VOCAB) max_id = TOK_MAX_VOCAB - 1; /* place() reports it */
    const char **names = xcalloc((size_t)max_id + 2, sizeof *names);
    uint8_t *added_flag = xcalloc((size_t)max_id + 2, 1);
    int V = 0, rc = -1;
    json_object_foreach(s->vocab, key, v) {
        if (!json_is_integer(v)) {
            set_err(s->err, s->errlen, "%s: model.vocab: the id of \"%.80s\" is not an integer",
                    s->path, key);
            goto out;
        }
        if (place(s, names, &V, json_integer_value(v), key, "model.vocab")) goto out;
    }
    json_array_foreach(s->added, i, v) {
        json_t *id = json_object_get(v, "id"), *c = json_object_get(v, "content");
        if (!json_is_integer(id) || !json_is_string(c)) {
            set_err(s->err, s->errlen, "%s: added_tokens[%zu] lacks an integer id or a string "
                    "content", s->path, i);
            goto out;
        }
        if (place(s, names, &V, json_integer_value(id), json_string_value(c), "added_tokens"))
            goto out;
        added_flag[json_integer_value(id)] =
            (uint8_t)(TOKF_ADDED | (json_is_true(json_object_get(v, "special")) ? TOKF_SPECIAL : 0));
    }
    for (int id = 0; id < V; id++)
        if (!names[id]) {
            set_err(s->err, s->errlen, "%s: id %d has no token (model.vocab and added_tokens "
                    "leave a gap below %d)", s->path, id, V - 1);
            goto out;
        }
    t->vocab_size = V;
    t->offs = xmalloc(sizeof(uint32_t) * ((size_t)V + 1));
    t->flags = xcalloc((size_t)V, 1);
    TokBuf a = {0};
    char *tmp = xmalloc(4 * TOK_MAX_PIECE + 4);
    for (int id = 0; id < V; id++) {
        const size_t n = strlen(names[id]);
        if (n > 4 * TOK_MAX_PIECE) {
            set_err(s->err, s->errlen, "%s: token %d is %zu bytes long, over the %d-byte bound",
                    s->path, id, n, TOK_MAX_PIECE);
            xfree(tmp);
            xfree(a.p);
            goto out;
        }
        int k = -1;
        t->flags[id] = added_flag[id];
        if (t->kind == TOKENIZER_BYTE_BPE) {
            if (!(added_flag[id] & TOKF_ADDED)) k = unmap_bytes(names[id], n, tmp);
        } else {
            t->flags[id] &= (uint8_t)~TOKF_ADDED; /* SentencePiece matches no text literally */
            if (!(t->flags[id] & TOKF_SPECIAL)) {
                if (fallback && tok_byte_piece_value(names[id], n) >= 0) t->flags[id] |= TOKF_BYTE;
                else k = (int)sp_piece(names[id], n, tmp);
            }
        }
        t->offs[id] = (uint32_t)a.n;
        if (k >= 0) tokbuf_add(&a, tmp, (size_t)k);
        else tokbuf_add(&a, names[id], n);
    }
    xfree(tmp);
    t->offs[V] = (uint32_t)a.n;
    t->arena = a.p;

    const size_t nm = json_array_size(merges);
    t->merges = xmalloc(sizeof(int32_t) * 3 * (nm + 1));
    json_array_foreach(merges, i, v) {
        if (resolve_merge(s, v, (int)i, t->merges + 3 * i)) goto out;
        t->n_merges = (int)i + 1;
    }

    t->bos_id = t->eos_id = t->pad_id = t->unk_id = -1;
    json_t *tp = find_type(json_object_get(root, "post_processor"), "TemplateProcessing");
    json_t *first = json_array_get(json_object_get(tp, "single"), 0);
    json_t *st = json_object_get(json_object_get(first, "SpecialToken"), "id");
    if (json_is_string(st)) t->bos_id = token_id(s, json_string_value(st));
    json_t *unk = json_object_get(model, "unk_token");
    if (json_is_string(unk)) t->unk_id = token_id(s, json_string_value(unk));
    static const char *const unk_names[] = {"<unk>", NULL};
    if (special(s, config, "bos_token", bos_names, &t->bos_id) ||
        special(s, config, "eos_token", eos_names, &t->eos_id) ||
        special(s, config, "pad_token", pad_names, &t->pad_id) ||
        special(s, config, "unk_token", t->kind == TOKENIZER_SP_BPE ? unk_names : NULL,
                &t->unk_id))
        goto out;
    if (t->bos_id < 0 || t->eos_id < 0) {
        set_err(s->err, s->errlen, "%s: no %s token: none of the usual names (<s>, </s>, "
                "<|begin_of_text|>, <|endoftext|>, ...), and neither the post_processor nor a "
                "tokenizer_config.json beside it names one", s->path,
                t->bos_id < 0 ? "BOS" : "EOS");
        goto out;
    }
    if (t->pad_id < 0) t->pad_id = t->eos_id;
    const int sp[4] = {t->bos_id, t->eos_id, t->pad_id, t->unk_id};
    for (int k = 0; k < 4; k++)
        if (sp[k] >= 0) t->flags[sp[k]] = (uint8_t)((t->flags[sp[k]] | TOKF_SPECIAL) & ~TOKF_BYTE);
    rc = tokenizer_bpe_finish(t, s->path, s->err, s->errlen);
out:
    xfree(names);
    xfree(added_flag);
    return rc;
}

int tokenizer_parse_json(Tokenizer *t, const char *text, size_t n, const char *path,
                         const char *config_text, char *err, size_t errlen) {
    json_error_t je;
    json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(root)) {
        if (root) set_err(err, errlen, "%s: not a tokenizer.json (the top level is not an object)", path);
        else set_err(err, errlen, "%s: not valid JSON: %s (line %d, column %d)", path, je.text,
                     je.line, je.column);
        json_decref(root);
        return -1;
    }
    json_t *config = NULL;
    if (config_text) {
        config = json_loads(config_text, 0, &je);
        if (!json_is_object(config)) {
            set_err(err, errlen, "%s: the tokenizer_config.json beside it is not a JSON object "
                    "(%s, line %d)", path, je.text, je.line);
            json_decref(root);
            json_decref(config);
            return -1;
        }
    }
    Tokenizer *tmp = xcalloc(1, sizeof *tmp);
    Src s = {.path = path, .err = err, .errlen = errlen};
    int rc = parse(tmp, root, config, &s);
    if (rc == 0) memcpy(t, tmp, sizeof *t);
    else tokenizer_free(tmp);
    xfree(tmp);
    json_decref(root);
    json_decref(config);
    return rc;
}

/* The whole file, NUL-terminated (malloc'd), or NULL with err. */
static char *read_text(const char *path, size_t *n, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open the tokenizer file", path);
        return NULL;
    }
    TokBuf b = {0};
    char chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) tokbuf_add(&b, chunk, k);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        set_err(err, errlen, "%s: read error", path);
        xfree(b.p);
        return NULL;
    }
    tokbuf_add(&b, "", 1);
    *n = b.n - 1;
    return b.p;
}

int tokenizer_load_json(Tokenizer *t, const char *path, char *err, size_t errlen) {
    size_t n, cn;
    char *text = read_text(path, &n, err, errlen);
    if (!text) return -1;
    /* tokenizer_config.json in the same directory, if there is one */
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path + 1) : 0;
    char *cpath = xmalloc(dl + 32);
    memcpy(cpath, path, dl);
    strcpy(cpath + dl, "tokenizer_config.json");
    FILE *probe = fopen(cpath, "rb");
    char *config = NULL, cerr[8];
    if (probe) {
        fclose(probe);
        config = read_text(cpath, &cn, cerr, sizeof cerr);
    }
    int rc = tokenizer_parse_json(t, text, n, path, config, err, errlen);
    xfree(cpath);
    xfree(config);
    xfree(text);
    return rc;
}
