#!/usr/bin/env python3
"""Independent token ids for test_tokenizer_bpe: Google's SentencePiece
(Debian python3-sentencepiece), nothing from the C code.

  check_sentencepiece.py OUT_DIR

Trains a small SentencePiece BPE model with byte fallback on text written
here, with Llama 2's trainer settings (identity normalizer, dummy prefix,
extra whitespace kept, digits split, whitespace-only pieces allowed), then
writes into OUT_DIR:

  tokenizer.bin      as karpathy/llama2.c tokenizer.py export() writes it
                     (BOS "\\n<s>\\n", EOS "\\n</s>\\n", "\\u2581" -> space,
                     byte pieces <0xNN> -> chr(NN));
  tokenizer_hex.bin  the same with the byte pieces kept as "<0xNN>" (the
                     export before that chr() step, which run.c also reads);
  hf/tokenizer.json, hf/tokenizer_config.json
                     the Hugging Face layout of transformers' LlamaConverter
                     (normalizer Prepend "\\u2581" + Replace " " -> "\\u2581",
                     no pre-tokenizer, BPE with byte_fallback and fuse_unk,
                     merges from generate_merges: every split of every piece
                     into two pieces, ordered by the merged piece's id, then
                     by the left piece's length);
  cases.tsv          one held-out text per line: CATEGORY, the text's UTF-8
                     in hex, SentencePiece's ids (space separated), and 1 if
                     SentencePiece decodes those ids back to the text, else 0.

Categories: ascii (in-distribution words), utf8 (multi-byte characters the
vocabulary has), fallback (characters it lacks: byte fallback), space
(leading, trailing, repeated whitespace, tabs, newlines), marker (text
holding U+2581 itself, which SentencePiece cannot tell from a space)."""
import os
import random
import struct
import sys

import sentencepiece as spm

SYL = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "ve", "dor", "an", "el", "is", "um",
       "qu", "th", "ing", "er", "ou", "st", "re", "the", "and"]
# in the training text, so the vocabulary has their characters
UTF8 = ["café", "naïve", "über", "résumé", "smørrebrød", "Ωmega", "привет", "日本", "語",
        "façade", "jalapeño", "Zürich"]
# characters the training text never has: each needs byte fallback
RARE = ["😀", "🎉", "漢字", "仮名", "مرحبا", "עברית", "ก", "€", "ß", "ŋ", "\u0301", "\u00a0",
        "\x01", "\x7f", "<", ">", "\\", "{", "}", "~", "|"]


def word(r):
    if r.random() < 0.1:
        return r.choice(UTF8)
    return "".join(r.choice(SYL) for _ in range(r.randint(1, 4)))


def sentence(r):
    ws = [word(r) for _ in range(r.randint(3, 12))]
    if r.random() < 0.3:
        ws.insert(r.randint(0, len(ws)), str(r.randint(0, 99999)))
    return " ".join(ws) + r.choice([".", ",", "!", "?", ""])


def held_out(r):
    cases = []
    for _ in range(150):
        s = sentence(r)
        cases.append(("utf8" if any(ord(c) > 127 for c in s) else "ascii", s))
    for _ in range(100):
        ws = [word(r) if r.random() < 0.7 else r.choice(RARE) for _ in range(r.randint(2, 8))]
        sep = "" if r.random() < 0.3 else " "
        cases.append(("fallback", sep.join(ws)))
    for s in ["a", "ka", " ka", "ka ", "  ka  lo", "ka\tlo", "ka\nlo\n", "\n", " ", "   ",
              "ka    lo", " \t \n ", "1234567890", "a1b22c333"]:
        cases.append(("space", s))
    for _ in range(30):
        s = sentence(r)
        k = r.randint(0, len(s))
        cases.append(("space", s[:k] + r.choice(["  ", "\t", "\n", "   "]) + s[k:]))
    for s in ["\u2581", "\u2581ka", "ka\u2581lo", "\u2581\u2581 x"]:
        cases.append(("marker", s))
    # one long text: the heap merge path of the C encoder
    cases.append(("ascii", " ".join(sentence(r) for _ in range(40))))
    return cases


def export_bin(sp, path, chr_bytes):
    # karpathy/llama2.c tokenizer.py Tokenizer.export()
    tokens, scores = [], []
    for i in range(sp.get_piece_size()):
        t = sp.id_to_piece(i)
        s = sp.get_score(i)
        if i == sp.bos_id():
            t = "\n<s>\n"
        elif i == sp.eos_id():
            t = "\n</s>\n"
        elif chr_bytes and len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            t = chr(int(t[3:5], 16))
        t = t.replace("\u2581", " ")
        tokens.append(t.encode("utf-8"))
        scores.append(s)
    with open(path, "wb") as f:
        f.write(struct.pack("I", max(len(t) for t in tokens)))
        for b, s in zip(tokens, scores):
            f.write(struct.pack("fI", s, len(b)))
            f.write(b)


def generate_merges(vocab):
    # transformers tokenization_utils_base.generate_merges(vocab) (no scores)
    merges = []
    for merge, piece_score in vocab.items():
        local = []
        for index in range(1, len(merge)):
            piece_l, piece_r = merge[:index], merge[index:]
            if piece_l in vocab and piece_r in vocab:
                local.append((piece_l, piece_r, piece_score))
        local = sorted(local, key=lambda x: (vocab[x[0]], vocab[x[1]]))
        merges.extend(local)
    merges = sorted(merges, key=lambda val: (val[2], len(val[0]), len(val[1])))
    return [[val[0], val[1]] for val in merges]


def export_json(sp, out_dir):
    import json
    # LlamaConverter.vocab: the three specials, then the pieces as they are
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for i in range(3, sp.get_piece_size()):
        vocab[sp.id_to_piece(i)] = i
    special = lambda i, c: {"id": i, "content": c, "single_word": False, "lstrip": False,
                            "rstrip": False, "normalized": False, "special": True}
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": generate_merges(vocab)},
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                   "add_bos_token": True, "add_eos_token": False,
                   "tokenizer_class": "LlamaTokenizer"}, f)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    r = random.Random(11)
    train = os.path.join(out, "train.txt")
    with open(train, "w", encoding="utf-8") as f:
        for _ in range(3000):
            f.write(sentence(r) + "\n")
    spm.SentencePieceTrainer.train(
        input=train, model_prefix=os.path.join(out, "sp"), vocab_size=700, model_type="bpe",
        byte_fallback=True, character_coverage=1.0, normalization_rule_name="identity",
        add_dummy_prefix=True, remove_extra_whitespaces=False, split_digits=True,
        allow_whitespace_only_pieces=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out, "sp.model"))
    for i in range(3, 259):
        if not sp.is_byte(i):
            sys.exit("check_sentencepiece.py: piece %d is not a byte piece: the layout "
                     "tokenizer.py assumes does not hold" % i)
    export_bin(sp, os.path.join(out, "tokenizer.bin"), True)
    export_bin(sp, os.path.join(out, "tokenizer_hex.bin"), False)
    export_json(sp, os.path.join(out, "hf"))
    with open(os.path.join(out, "cases.tsv"), "w") as f:
        for cat, text in held_out(random.Random(12)):
            ids = sp.encode(text, out_type=int)
            same = int(sp.decode(ids) == text)
            f.write("%s\t%s\t%s\t%d\n" % (cat, text.encode("utf-8").hex(),
                                          " ".join(map(str, ids)), same))
    print("check_sentencepiece.py: sentencepiece %s, %d pieces" %
          (spm.__version__, sp.get_piece_size()))


if __name__ == "__main__":
    main()
