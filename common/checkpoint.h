/* checkpoint.h: one self-describing file per checkpoint.
 *
 * Byte layout (all integers little-endian):
 *   offset 0   char[8]  magic "GRPOCKPT"
 *          8   u32      format version (CKPT_VERSION)
 *         12   u32      number of sections
 *         16   u64      payload bytes (everything after this 32-byte header)
 *         24   u32      CRC-32 of the payload
 *         28   u32      CRC-32 of bytes 0..27 (header integrity)
 *   payload: sections, each
 *              char[4]  tag, e.g. "CONF"
 *              u32      reserved (0)
 *              u64      length n
 *              u8[n]    data, then zero padding to a multiple of 8
 *
 * Sections written by this project (a reader skips tags it does not know,
 * so later issues add sections without a version bump):
 *   CONF  model config: 8 x i32 (V, D, L, NH, NKV, HF, max_seq_len, tied),
 *         2 x f32 (rope_theta, norm_eps)
 *   HEAD  u32 head kind (model.h ModelHead: 1 = scalar), u32 reserved (0);
 *         written only when the head is not the LM's, so a file without
 *         it is an LM (every checkpoint older than the scalar head loads
 *         unchanged). A scalar model's PARM ends with its D + 1 head
 *         floats (w, then the bias) where an LM's has wcls. (optional)
 *   TOKN  tokenizer_serialize() blob
 *   PARM  n_params x f32: the flat parameter buffer
 *   ADAM  i64 t, then n_params x f32 m, n_params x f32 v   (optional)
 *   STEP  i64 step, u64 policy version                      (optional)
 *   RNG_  any number of xoshiro states, 4 x u64 each        (optional)
 *   META  UTF-8 text, e.g. the effective config              (optional)
 *   VCNF VHED VPRM VADM PPOS  a PPO run's value model, its AdamW and
 *         the KL controller (learner/run_state.h lists them)   (optional)
 *
 * A checkpoint is written to "<path>.tmp.<pid>", fsync'd, renamed over
 * <path> and the directory fsync'd, so a kill mid-write leaves the old file
 * (and the temp file, which ckpt_remove_stale_temps deletes later).
 * Anyone can write one: numpy's tofile() of these fields will do.
 *
 * Test hook: with GRPO_CKPT_CRASH_AFTER_BYTES=N in the environment,
 * ckpt_write calls _exit(9) (no cleanup, like kill -9) as soon as N bytes of
 * the temp file are written; the temp file is left behind and <path> is
 * untouched. Values larger than the file, or malformed, do nothing. */
#ifndef COMMON_CHECKPOINT_H
#define COMMON_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "optim.h"
#include "tokenizer.h"

enum { CKPT_VERSION = 1, CKPT_MAX_SECTIONS = 64 };

typedef struct {
    char tag[5];      /* NUL-terminated 4-char tag */
    uint8_t *data;    /* owned */
    size_t len;
} CkptSection;

typedef struct {
    int n_sections;
    CkptSection sec[CKPT_MAX_SECTIONS];
} Checkpoint;

/* ---- generic sections ---- */
void ckpt_init(Checkpoint *c);
void ckpt_free(Checkpoint *c);
/* Adds (a copy of) data under tag, replacing an existing section. */
void ckpt_put(Checkpoint *c, const char *tag, const void *data, size_t len);
/* Returns the section or NULL. */
const CkptSection *ckpt_get(const Checkpoint *c, const char *tag);

/* Atomic write (see above). Returns 0, or -1 with err naming the path and
 * the failing step (open, write, fsync, rename). */
int ckpt_write(const Checkpoint *c, const char *path, char *err, size_t errlen);
/* Deletes the temp files that writers killed mid-write left in dir: regular
 * files named "<name>.ckpt.tmp.<pid>" whose process <pid> is not running on
 * this host, or is the caller itself (call it before writing anything; a
 * live pid may be a write in progress). Prints each removal on stdout and
 * each failure to remove on stderr. Returns the number removed, or -1 with
 * err naming dir if it cannot be read. */
int ckpt_remove_stale_temps(const char *dir, char *err, size_t errlen);
/* Reads and verifies a file. Returns 0, or -1 with err naming the path and
 * what is wrong (missing, truncated, bad magic, version, checksum, section
 * overrun); c is then empty. */
int ckpt_read(Checkpoint *c, const char *path, char *err, size_t errlen);
/* ckpt_read's checks on a checkpoint already in memory: buf holds the len
 * bytes of a whole file (only read; buf may be NULL when len < 32). name
 * stands for the file in every message. Returns 0 with c owning copies of
 * the sections, or -1 with err; c is then empty. */
int ckpt_parse(Checkpoint *c, const uint8_t *buf, size_t len, const char *name, char *err,
               size_t errlen);

/* ---- typed helpers for the model ---- */
/* Adds CONF, TOKN and PARM for m and tok, and HEAD when m's head is not
 * the LM's. */
void ckpt_put_model(Checkpoint *c, const Model *m, const Tokenizer *tok);
/* Builds m (model_init + copy of PARM) and tok from CONF/HEAD/TOKN/PARM,
 * whatever the head (m->cfg.head says which; resumes compare the whole
 * config with their model's). Returns 0, or -1 with err (missing section,
 * config or head invalid, size mismatch). path is only used in the
 * message. */
int ckpt_get_model(const Checkpoint *c, const char *path, Model *m, Tokenizer *tok, char *err,
                   size_t errlen);
/* 0 if m (loaded from path) has head kind head, else -1 with err saying
 * what path is instead: "PATH is a reward/value model (scalar head), not
 * a policy" or "PATH is a policy (LM head), not a reward/value model". */
int ckpt_check_head(const Model *m, int head, const char *path, char *err, size_t errlen);

/* Adds ADAM: AdamW's step count and both moments of its n parameters
 * (every resumable trainer stores its optimizer the same way). */
void ckpt_put_adamw(Checkpoint *c, const AdamW *opt, size_t n);
/* 1 if c has an ADAM record of n parameters. */
int ckpt_has_adamw(const Checkpoint *c, size_t n);
/* Restores opt (allocated for n parameters) from ADAM, which
 * ckpt_has_adamw(c, n) has checked. */
void ckpt_get_adamw(const Checkpoint *c, AdamW *opt, size_t n);

/* Readers by head kind. The plain names read a policy (an LM head: the
 * policy, the reference, a teacher, a model to start from or evaluate)
 * and refuse a scalar checkpoint (ckpt_check_head's message); the
 * _scalar_ ones read a reward or value model and refuse an LM
 * checkpoint the same way. */

/* Reads path and builds m and tok from it (ckpt_read + ckpt_get_model +
 * ckpt_check_head(LM)). 0, or -1 with err; nothing to free on failure. */
int ckpt_read_model(const char *path, Model *m, Tokenizer *tok, char *err, size_t errlen);
/* The same for a MODEL_HEAD_SCALAR checkpoint. */
int ckpt_read_scalar_model(const char *path, Model *m, Tokenizer *tok, char *err, size_t errlen);

/* ckpt_read_model of a checkpoint that must use tok (a model to start
 * from, or a teacher): -1 with err when it does not load or has another
 * tokenizer (its embedding rows would name other tokens). */
int ckpt_read_model_with(const char *path, const Tokenizer *tok, Model *m, char *err,
                         size_t errlen);
/* The same for a MODEL_HEAD_SCALAR checkpoint (a value model from a
 * reward model: it must read the policy's tokens). */
int ckpt_read_scalar_model_with(const char *path, const Tokenizer *tok, Model *m, char *err,
                                size_t errlen);

/* Convenience: load a policy (LM) checkpoint from path; dies with the
 * message on failure (a setup error), a scalar checkpoint included. */
void ckpt_load_model_or_die(const char *path, Model *m, Tokenizer *tok);

/* The tokenizer alone (the TOKN section) of the checkpoint at path: 0, or
 * -1 with err naming the file (tok untouched). */
int ckpt_read_tokenizer(const char *path, Tokenizer *tok, char *err, size_t errlen);

#endif
