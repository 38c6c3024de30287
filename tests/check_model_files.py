#!/usr/bin/env python3
"""Independent reader for test_model_formats: numpy.frombuffer on the
documented layouts, nothing from the C code.

  check_model_files.py HF_DIR LEGACY.bin V1.bin PARAMS.f32

PARAMS.f32 is the project's flat buffer (llama2.c legacy order: wte,
rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, wcls). Checks that
HF_DIR/model.safetensors (header per the safetensors spec), LEGACY.bin (as
llama2.c run.c reads it) and V1.bin (as export.py version1_export writes
it) all hold exactly those weights, with q_proj/k_proj mapped through
export.py's permute_reverse. Exits non-zero naming the first mismatch."""
import json
import struct
import sys

import numpy as np


def fail(msg):
    print("check_model_files.py: " + msg, file=sys.stderr)
    sys.exit(1)


def permute_reverse(w, n_heads):
    # llama2.c export.py: HF halves -> interleaved pairs
    d1, d2 = w.shape
    return w.reshape(n_heads, 2, d1 // n_heads // 2, d2).transpose(0, 2, 1, 3).reshape(d1, d2)


def main():
    hf_dir, legacy, v1, params = sys.argv[1:5]
    cfg = json.load(open(hf_dir + "/config.json"))
    D, F, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    NH, NKV, V = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["vocab_size"]
    S = cfg["max_position_embeddings"]
    tied = cfg["tie_word_embeddings"]
    HD = D // NH
    KVD = NKV * HD
    flat = np.fromfile(params, dtype="<f4")
    sizes = [V * D, L * D, L * D * D, L * KVD * D, L * KVD * D, L * D * D, L * D,
             L * F * D, L * D * F, L * F * D, D, 0 if tied else V * D]
    names = ["wte", "rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3",
             "rms_final", "wcls"]
    if flat.size != sum(sizes):
        fail("params file has %d floats, expected %d" % (flat.size, sum(sizes)))
    ours, off = {}, 0
    for n, s in zip(names, sizes):
        ours[n] = flat[off:off + s]
        off += s

    # safetensors: u64 header length, JSON header, data area
    raw = open(hf_dir + "/model.safetensors", "rb").read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    base = 8 + hlen

    def tensor(name):
        e = header[name]
        if e["dtype"] != "F32":
            fail("%s is %s" % (name, e["dtype"]))
        b, end = e["data_offsets"]
        a = np.frombuffer(raw[base + b:base + end], dtype="<f4")
        return a.reshape(e["shape"])

    def same(what, a, b):
        if a.shape != b.shape or not np.array_equal(a, b):
            fail("%s differs" % what)

    same("embed_tokens", tensor("model.embed_tokens.weight").ravel(), ours["wte"])
    same("norm", tensor("model.norm.weight").ravel(), ours["rms_final"])
    if not tied:
        same("lm_head", tensor("lm_head.weight").ravel(), ours["wcls"])
    elif "lm_head.weight" in header:
        fail("tied model has lm_head.weight")
    for l in range(L):
        p = "model.layers.%d." % l
        def layer(n, rows, cols):
            size = rows * cols
            return ours[n][l * size:(l + 1) * size].reshape(rows, cols) if cols else \
                ours[n][l * rows:(l + 1) * rows]
        same(p + "q_proj", permute_reverse(tensor(p + "self_attn.q_proj.weight"), NH), layer("wq", D, D))
        same(p + "k_proj", permute_reverse(tensor(p + "self_attn.k_proj.weight"), NKV), layer("wk", KVD, D))
        same(p + "v_proj", tensor(p + "self_attn.v_proj.weight"), layer("wv", KVD, D))
        same(p + "o_proj", tensor(p + "self_attn.o_proj.weight"), layer("wo", D, D))
        same(p + "gate_proj", tensor(p + "mlp.gate_proj.weight"), layer("w1", F, D))
        same(p + "down_proj", tensor(p + "mlp.down_proj.weight"), layer("w2", D, F))
        same(p + "up_proj", tensor(p + "mlp.up_proj.weight"), layer("w3", F, D))
        same(p + "input_layernorm", tensor(p + "input_layernorm.weight"), layer("rms_att", D, 0))
        same(p + "post_attention_layernorm", tensor(p + "post_attention_layernorm.weight"),
             layer("rms_ffn", D, 0))

    # llama2.c legacy, as run.c's memory_map_weights walks it
    b = open(legacy, "rb").read()
    h = struct.unpack("<7i", b[:28])
    if h != (D, F, L, NH, NKV, V if tied else -V, S):
        fail("legacy header %s" % (h,))
    w = np.frombuffer(b[28:], dtype="<f4")
    off = 0
    for n in names[:11]:
        same("legacy " + n, w[off:off + ours[n].size], ours[n])
        off += ours[n].size
    cos = w[off:off + S * HD // 2].reshape(S, HD // 2)
    freqs = 1.0 / (10000.0 ** (np.arange(0, HD, 2)[:HD // 2] / HD))
    if not np.allclose(cos, np.cos(np.outer(np.arange(S), freqs)), atol=1e-6):
        fail("legacy freq_cis_real")
    off += S * HD  # freq_cis_real and freq_cis_imag
    if not tied:
        same("legacy wcls", w[off:off + V * D], ours["wcls"])
        off += V * D
    if off != w.size:
        fail("legacy file has %d trailing floats" % (w.size - off))

    # export.py version1_export: 256-byte header, norms first
    b = open(v1, "rb").read()
    magic, version = struct.unpack("<Ii", b[:8])
    h = struct.unpack("<7i", b[8:36])
    if magic != 0x616B3432 or version != 1 or h != (D, F, L, NH, NKV, V, S) or b[36] != int(tied):
        fail("v1 header")
    w = np.frombuffer(b[256:], dtype="<f4")
    order = ["rms_att", "rms_ffn", "rms_final", "wte", "wq", "wk", "wv", "wo", "w1", "w2", "w3"]
    if not tied:
        order.append("wcls")
    off = 0
    for n in order:
        same("v1 " + n, w[off:off + ours[n].size], ours[n])
        off += ours[n].size
    if off != w.size:
        fail("v1 file has %d trailing floats" % (w.size - off))
    print("check_model_files.py: safetensors, llama2.c legacy and v1 match the parameters "
          "(numpy %s)" % np.__version__)


main()
