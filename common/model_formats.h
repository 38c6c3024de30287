/* model_formats.h: other programs' model files, read into a Model and
 * written from one.
 *
 * llama2.c (karpathy/llama2.c), read and written (format_llama2c.c):
 *   legacy  7 x i32 header (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 *           vocab_size, negative when the classifier is not shared, seq_len),
 *           float32 tensors in run.c's order, the RoPE tables
 *           freq_cis_real/imag (seq_len * head_size / 2 each, skipped on
 *           read) before wcls;
 *   v1      "ak42" magic, version 1, the same 7 ints (vocab positive), a
 *           shared-classifier byte, zeros to 256 bytes; then float32 norms
 *           first (rms_att, rms_ffn, rms_final), then wte, wq .. w3, wcls
 *           (export.py version1_export);
 *   v2      read only: "ak42" version 2, Q8_0 (int8 groups of group_size
 *           with one float32 scale each, runq.c), dequantized on load.
 * llama2.c has no rope_theta or norm_eps: they are 10000 and 1e-5, and a
 * model with others cannot be written in this format.
 *
 * Hugging Face Llama directories, read and written (format_hf.c):
 * config.json (LlamaForCausalLM) plus model.safetensors, or shards listed
 * by model.safetensors.index.json. Hugging Face rotates the two halves of
 * each head (rotate_half), this project adjacent pairs, so the rows of
 * q_proj and k_proj are permuted on the way in and back on the way out
 * (hf_permute_rows). */
#ifndef COMMON_MODEL_FORMATS_H
#define COMMON_MODEL_FORMATS_H

#include <stddef.h>

#include "model.h"

enum { LLAMA2C_MAGIC = 0x616b3432, LLAMA2C_HEADER_V1 = 256 };

typedef enum { LLAMA2C_LEGACY = 0, LLAMA2C_V1 = 1, LLAMA2C_V2 = 2 } Llama2cVersion;

/* Reads a llama2.c model file of any version above (told apart by the
 * magic); *version (if not NULL) gets which. m is built (model_free it) on
 * 0; -1 with err naming the file and what is wrong (truncated, trailing
 * bytes, bad magic or version, impossible shape). */
int llama2c_read(const char *path, Model *m, int *version, char *err, size_t errlen);
/* The same on len bytes already in memory; name stands for the file. */
int llama2c_parse(const unsigned char *buf, size_t len, const char *name, Model *m, int *version,
                  char *err, size_t errlen);
/* Writes m as llama2.c LLAMA2C_LEGACY or LLAMA2C_V1, atomically. 0, or -1
 * with err (a rope_theta or norm_eps llama2.c cannot express, I/O). */
int llama2c_write(const Model *m, int version, const char *path, char *err, size_t errlen);

/* What config.json says beyond the shape. -1: absent. */
typedef struct {
    int bos_token_id, eos_token_id;
} HfExtra;

/* Parses config.json text (len bytes; name for messages) into cfg. Required:
 * hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
 * vocab_size, max_position_embeddings; defaults as transformers'
 * LlamaConfig: num_key_value_heads = num_attention_heads, rms_norm_eps 1e-6,
 * rope_theta 10000, tie_word_embeddings false. Refuses what this model
 * cannot run: rope_scaling, a head_dim other than hidden / heads, biases,
 * an activation other than silu. 0, or -1 with err naming the file and the
 * field. */
int hf_config_parse(const char *text, size_t len, const char *name, ModelConfig *cfg,
                    HfExtra *extra, char *err, size_t errlen);

/* Reads a Hugging Face directory: config.json, then model.safetensors, or
 * when there is none the shards model.safetensors.index.json names (the
 * order transformers looks in). F32, F16, BF16 tensors are
 * converted to float32; every tensor must be there with the shape the
 * config implies. 0 with m built, or -1 with err. */
int hf_read_dir(const char *dir, Model *m, HfExtra *extra, char *err, size_t errlen);
/* Writes dir/config.json and dir/model.safetensors (F32) for m (dir is
 * created if missing). bos/eos < 0 are left out of config.json. */
int hf_write_dir(const Model *m, const char *dir, int bos_token_id, int eos_token_id, char *err,
                 size_t errlen);

/* Keeps the first vocab_size rows of wte and of an untied wcls (a padded
 * vocabulary cut to its tokenizer; model_vocab_trim.c says why that is
 * exact for the real tokens). m is rebuilt in place. 0, or -1 with err for
 * a size above the model's or a scalar head. */
int model_trim_vocab(Model *m, int vocab_size, char *err, size_t errlen);

/* Row permutation between the two RoPE conventions for one (n_heads * hd,
 * in) matrix: to_hf = 1 maps this project's interleaved rows to Hugging
 * Face's halves (row h*hd + 2i + j -> h*hd + j*hd/2 + i, the permute() of
 * transformers' convert_llama_weights_to_hf.py), to_hf = 0 is the inverse
 * (llama2.c export.py's permute_reverse). dst and src do not overlap. */
void hf_permute_rows(float *dst, const float *src, int n_heads, int hd, int in, int to_hf);

#endif
