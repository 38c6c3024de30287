/* tokenizer.h: the vocabulary, stored inside every checkpoint so a
 * checkpoint is self-describing.
 *
 * Three kinds share one struct:
 *   TOKENIZER_CHAR      character level over printable ASCII (32..126) plus
 *                       the specials PAD=0, BOS=1, EOS=2; V = 98 (the
 *                       project's own small models).
 *   TOKENIZER_BYTE_BPE  GPT-2 style byte-level BPE (Llama 3, SmolLM) from a
 *                       Hugging Face tokenizer.json (tokenizer_json.c).
 *   TOKENIZER_SP_BPE    SentencePiece-style BPE with byte fallback (Llama 2,
 *                       TinyLlama) from tokenizer.json or llama2.c's
 *                       tokenizer.bin (tokenizer_llama2c.c).
 * The algorithms are in tokenizer_bpe.c; what each does exactly is written
 * at the top of that file.
 *
 * Special ids come from the tokenizer (bos_id, eos_id, pad_id): code that
 * holds a Tokenizer uses those fields. TOK_PAD/TOK_BOS/TOK_EOS are the
 * character tokenizer's ids only. */
#ifndef COMMON_TOKENIZER_H
#define COMMON_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

enum {
    TOK_PAD = 0, TOK_BOS = 1, TOK_EOS = 2, /* the character tokenizer's specials */
    TOK_MAX_VOCAB = 1 << 20,               /* bound checked on every load */
    TOK_MAX_PIECE = 1024,                  /* bytes of one piece, checked on load */
    TOK_CHAR_MAX_VOCAB = 3 + 255,          /* specials + every non-NUL byte */
};

typedef enum { TOKENIZER_CHAR = 1, TOKENIZER_BYTE_BPE = 2, TOKENIZER_SP_BPE = 3 } TokenizerKind;

/* Per-token flags (BPE kinds). */
enum {
    TOKF_SPECIAL = 1, /* control token (BOS, EOS, PAD, UNK, added special): no text */
    TOKF_BYTE = 2,    /* SentencePiece byte fallback <0xNN>: decodes to that byte */
    TOKF_ADDED = 4,   /* added token: matched literally in the text before BPE */
    TOKF_ALL = 7,
};

typedef struct TokenizerTables TokenizerTables; /* lookup tables, tokenizer_bpe.c */

typedef struct {
    int kind;       /* TokenizerKind */
    int vocab_size;
    int bos_id, eos_id, pad_id; /* always valid ids (pad_id = eos_id when there is no pad) */
    int unk_id;                 /* -1 when there is none */
    int max_piece;  /* longest text one token decodes to, bytes (capacity planning) */
    int ignore_merges; /* byte BPE: a pre-token that is a whole vocab entry is one token */
    int sp_prefix;     /* SP: encode prepends a space (the dummy prefix), decode drops it */
    int llama3_split;  /* byte BPE: Llama 3's pre-tokenizer regex instead of GPT-2's */
    int32_t byte_to_id[256]; /* char: each byte's id; SP: byte fallback token; byte BPE:
                              * the one-byte token; -1 if none */
    /* char kind: the byte of each ordinary id (no heap, so the many stack
     * char tokenizers need no tokenizer_free) */
    uint8_t char_of[TOK_CHAR_MAX_VOCAB];
    /* BPE kinds (NULL for char), owned; tokenizer_free releases them: */
    char *arena;       /* every piece's bytes, back to back */
    uint32_t *offs;    /* (V + 1) piece id is arena[offs[id] .. offs[id + 1]) */
    uint8_t *flags;    /* (V) TOKF_* */
    float *scores;     /* (V) tokenizer.bin scores, or NULL (merges ranked instead) */
    int32_t *merges;   /* (3 n_merges) a, b, result in rank order, or NULL */
    int n_merges;
    TokenizerTables *tab;
} Tokenizer;

/* The character-level vocabulary described above. */
void tokenizer_init_char(Tokenizer *t);

/* Releases a BPE tokenizer's heap (no-op for char); t is then zeroed. */
void tokenizer_free(Tokenizer *t);

/* Encodes text (no BOS/EOS added) into out (capacity cap). Returns the
 * number of tokens, or -1 if a character is not in the vocabulary (then
 * *bad_pos, if not NULL, is its byte offset) or -2 if cap is too small.
 * A SentencePiece tokenizer prepends its dummy-prefix space. */
int tokenizer_encode(const Tokenizer *t, const char *text, int *out, int cap, int *bad_pos);
/* The same for text that continues earlier text (a completion after its
 * prompt): no SentencePiece dummy prefix. */
int tokenizer_encode_cont(const Tokenizer *t, const char *text, int *out, int cap, int *bad_pos);

/* Decodes ids into out (capacity cap, NUL-terminated), skipping specials.
 * Returns the string length, or -1 on an id out of range or overflow.
 * Bytes are copied as they decode: a partial UTF-8 sequence is kept. */
int tokenizer_decode(const Tokenizer *t, const int *ids, int n, char *out, size_t cap);

/* The bytes token id decodes to on its own (*len of them; 0 for a special),
 * not NUL-terminated. id must be in range. */
const char *tokenizer_piece(const Tokenizer *t, int id, int *len);

/* Encodes [BOS] + prompt into out (cap tokens); returns the length, dies
 * naming the prompt if it does not fit or has a character outside the
 * vocabulary (tasks are ours, so that is a setup error). */
int encode_prompt(const Tokenizer *tok, const char *prompt, int *out, int cap);

/* Writes the character at byte pos of text for a message: "'x' (0x78)", a
 * whole UTF-8 sequence "'é' (0xc3 0xa9)", or an escape "'\t' (0x09)" for
 * a control byte, so what the user sees matches what the editor shows
 * (the error for a character tokenizer_encode refuses). */
void tokenizer_describe_char(const char *text, int pos, char *out, size_t cap);

/* Serialised form for checkpoints: returns bytes written to buf (or the
 * size needed, when buf is NULL). */
size_t tokenizer_serialize(const Tokenizer *t, uint8_t *buf);
/* Returns 0, or -1 with a message in err for a malformed blob (t is then
 * untouched). t is overwritten, not freed: free a loaded one first. */
int tokenizer_deserialize(Tokenizer *t, const uint8_t *buf, size_t n, char *err, size_t errlen);

/* 1 if a and b are the same vocabulary (equal serialized blobs). */
int tokenizer_same(const Tokenizer *a, const Tokenizer *b);

/* A one-line description for messages: "the character tokenizer (98
 * tokens)", "a byte-level BPE tokenizer (32000 tokens)". */
void tokenizer_describe(const Tokenizer *t, char *out, size_t cap);

/* Readers (0, or -1 with err naming the file and what is wrong; t is
 * untouched then). tokenizer_load_file picks the reader by the name
 * (.json, .bin), else by content: a file starting with '{' is
 * tokenizer.json, anything else tokenizer.bin. */
int tokenizer_load_json(Tokenizer *t, const char *path, char *err, size_t errlen);
int tokenizer_load_llama2c(Tokenizer *t, const char *path, char *err, size_t errlen);
int tokenizer_load_file(Tokenizer *t, const char *path, char *err, size_t errlen);
/* The in-memory cores of the readers (path names the data in messages). */
int tokenizer_parse_json(Tokenizer *t, const char *text, size_t n, const char *path,
                         const char *config_text, char *err, size_t errlen);
int tokenizer_parse_llama2c(Tokenizer *t, const uint8_t *buf, size_t n, const char *path,
                            char *err, size_t errlen);
/* Writes a BPE tokenizer as dir/tokenizer.json and dir/tokenizer_config.json
 * (its special tokens), which tokenizer_load_file reads back to the same
 * tokenizer (tokenizer_json_write.c). 0, or -1 with err: the character
 * tokenizer, or a SentencePiece one with scores instead of merges (from a
 * tokenizer.bin), has no tokenizer.json form. */
int tokenizer_write_json(const Tokenizer *t, const char *dir, char *err, size_t errlen);
/* 1 if t can be written as a llama2.c tokenizer.bin: SentencePiece kind,
 * <unk> 0, BOS 1, EOS 2; one read from a tokenizer.bin always (it is
 * written back as it was); one from a tokenizer.json (ranked merges) only
 * if run.c would encode it as t does: the dummy prefix on and the byte
 * fallback token of every byte at 3 + byte. Else 0 with why (no file name
 * in it) saying what does not fit. */
int tokenizer_llama2c_fits(const Tokenizer *t, char *why, size_t whylen);
/* The bytes of t's tokenizer.bin (layout below) in *out (n of them; xfree
 * it): 0, or -1 with why when it does not fit. */
int tokenizer_llama2c_bytes(const Tokenizer *t, uint8_t **out, size_t *n, char *why,
                           size_t whylen);
/* Writes t atomically as a llama2.c tokenizer.bin (tokenizer.py export()'s layout;
 * BOS and EOS as "\n<s>\n" and "\n</s>\n"; ranked merges become scores in
 * rank order). 0, or -1 with err naming path (why it does not fit, I/O). */
int tokenizer_write_llama2c(const Tokenizer *t, const char *path, char *err, size_t errlen);

#endif
