/* tokenizer_impl.h: what the tokenizer files share (not for callers).
 *
 * Loaders (tokenizer_json.c, tokenizer_llama2c.c, the checkpoint blob in
 * tokenizer.c) fill a Tokenizer's kind, vocab_size, specials, arena/offs/
 * flags and scores or merges, then call tokenizer_bpe_finish, which checks
 * them and builds the lookup tables. On failure the caller frees with
 * tokenizer_free. */
#ifndef COMMON_TOKENIZER_IMPL_H
#define COMMON_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* Builds t->tab; merges whose result is -1 get it looked up (concatenated
 * pieces). 0, or -1 with err ("<path>: ..."). */
int tokenizer_bpe_finish(Tokenizer *t, const char *path, char *err, size_t errlen);

/* Encode/decode of the BPE kinds (tokenizer_bpe.c); the contract is
 * tokenizer_encode's / tokenizer_decode's. */
int tokenizer_bpe_encode(const Tokenizer *t, const char *text, int cont, int *out, int cap,
                         int *bad_pos);
int tokenizer_bpe_decode(const Tokenizer *t, const int *ids, int n, char *out, size_t cap);

/* The pre-tokenizer alone (for tests; GPT-2's, or Llama 3's if llama3):
 * the end offsets of the first cap pre-tokens of text[0..n); returns how
 * many. */
int tokenizer_pretokenize(const char *text, size_t n, int llama3, size_t *ends, int cap);

/* Sequences longer than this merge through a heap, shorter ones by a scan
 * (same result; tests set it to compare the two). */
extern int tok_scan_limit;

/* id of piece bytes p[0..n) (ordinary tokens only), or -1. */
int tokenizer_bpe_lookup(const Tokenizer *t, const char *p, size_t n);

/* GPT-2's byte <-> unicode map: the code point byte b is written as in a
 * byte-level vocabulary, and the byte of code point c (-1 if none). */
uint32_t tok_byte_to_cp(int b);
int tok_cp_to_byte(uint32_t c);

/* The byte of a byte-fallback piece "<0xNN>" (n bytes at p), or -1. */
int tok_byte_piece_value(const char *p, size_t n);

/* UTF-8 helpers: the code point at s[i] (n bytes in s) and its length;
 * an invalid or truncated sequence is one byte with *cp = TOK_BAD_CP. */
enum { TOK_BAD_CP = 0x7fffffff };
int tok_utf8_next(const uint8_t *s, size_t n, size_t i, uint32_t *cp);
/* Writes c as UTF-8 into out (4 bytes room); returns the length. */
int tok_utf8_put(uint32_t c, char *out);

/* Growable byte arena used while loading. */
typedef struct {
    char *p;
    size_t n, cap;
} TokBuf;
void tokbuf_add(TokBuf *b, const void *p, size_t n);
void *tok_realloc(void *p, size_t n);

#endif
