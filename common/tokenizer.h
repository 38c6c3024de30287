/* tokenizer.h: the vocabulary, stored inside every checkpoint so a
 * checkpoint is self-describing.
 *
 * Now: character level over printable ASCII (32..126) plus the specials
 * PAD=0, BOS=1, EOS=2; so V = 98. The struct holds a general table of
 * pieces (byte strings) so a BPE vocabulary can be loaded into the same
 * structure later. */
#ifndef COMMON_TOKENIZER_H
#define COMMON_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

enum { TOK_PAD = 0, TOK_BOS = 1, TOK_EOS = 2, TOK_MAX_VOCAB = 4096, TOK_MAX_PIECE = 16 };

typedef enum { TOKENIZER_CHAR = 1 } TokenizerKind;

typedef struct {
    int kind;          /* TokenizerKind */
    int vocab_size;
    char pieces[TOK_MAX_VOCAB][TOK_MAX_PIECE]; /* NUL-terminated; specials are "<pad>" ... */
    int16_t byte_to_id[256];                  /* char kind: id of each byte, -1 if none */
} Tokenizer;

/* The character-level vocabulary described above. */
void tokenizer_init_char(Tokenizer *t);

/* Encodes text (no BOS/EOS added) into out (capacity cap). Returns the
 * number of tokens, or -1 if a character is not in the vocabulary (then
 * *bad_pos, if not NULL, is its byte offset) or -2 if cap is too small. */
int tokenizer_encode(const Tokenizer *t, const char *text, int *out, int cap, int *bad_pos);

/* Decodes ids into out (capacity cap, NUL-terminated), skipping specials.
 * Returns the string length, or -1 on an id out of range or overflow. */
int tokenizer_decode(const Tokenizer *t, const int *ids, int n, char *out, size_t cap);

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
/* Returns 0, or -1 with a message in err for a malformed blob. */
int tokenizer_deserialize(Tokenizer *t, const uint8_t *buf, size_t n, char *err, size_t errlen);

/* 1 if a and b are the same vocabulary (equal serialized blobs). */
int tokenizer_same(const Tokenizer *a, const Tokenizer *b);

#endif
