#!/usr/bin/env python3
"""Rebuild a GPT-2-style (byte-level BPE) GGUF model's tokenizer as a Hugging Face
tokenizer directory, from the GGUF's own vocabulary and merges, without torch.

transformers can load a tokenizer from a GGUF (`gguf_file=`), but its GGUF reader imports
torch; this needs only `gguf`, `tokenizers` and `transformers`. The pre-tokenizer is the one
llama.cpp uses for the GGUF's `tokenizer.ggml.pre` (supported: `smollm`, SmolLM2's: digits
one by one, then GPT-2's byte-level split).

Usage: gguf_tokenizer.py MODEL.gguf OUT_DIR
"""
import sys

from gguf import GGUFReader
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

CONTROL = 3  # llama.cpp's token type for control (special) tokens


def field(reader, key):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def main():
    model, out = sys.argv[1], sys.argv[2]
    r = GGUFReader(model)
    kind, pre = field(r, "tokenizer.ggml.model"), field(r, "tokenizer.ggml.pre")
    if kind != "gpt2" or pre != "smollm":
        sys.exit(f"{model}: tokenizer {kind}/{pre} is not supported (gpt2/smollm is)")
    tokens = field(r, "tokenizer.ggml.tokens")
    types = field(r, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in field(r, "tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([t for t, ty in zip(tokens, types) if ty == CONTROL])
    name = lambda key: tokens[field(r, key)] if field(r, key) is not None else None
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=name("tokenizer.ggml.bos_token_id"),
        eos_token=name("tokenizer.ggml.eos_token_id"),
        unk_token=name("tokenizer.ggml.unknown_token_id"),
        pad_token=name("tokenizer.ggml.padding_token_id"),
    )
    fast.save_pretrained(out)
    print("tokenizer:", len(fast), "tokens,", len(merges), "merges, from", model)


if __name__ == "__main__":
    main()
