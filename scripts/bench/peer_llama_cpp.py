#!/usr/bin/env python3
"""The peer side of `trilemma bench engine`: the same measurements through
llama-cpp-python (the llama.cpp that PyPI's `llama-cpp-python` builds), on the
same GGUF and thread count.

- prefill / decode: its own `create_completion` loop, streamed, greedy;
- multiple choice: scored the way lm-evaluation-harness scores a choice, one full
  forward pass over context + continuation per choice.

Input: a JSON file written by trilemma ({"prompts": {...}, "items": [...]}).
Output: one JSON object on stdout.
"""
import argparse
import json
import math
import statistics
import time

import numpy as np
from llama_cpp import Llama


def completion_timing(llm, prompt_tokens, max_tokens):
    start = time.perf_counter()
    first = None
    n = 0
    for _ in llm.create_completion(prompt_tokens, max_tokens=max_tokens, temperature=0.0,
                                   top_k=1, stream=True):
        now = time.perf_counter()
        if first is None:
            first = now
        n += 1
    end = time.perf_counter()
    return {"ttft_s": first - start, "decode_s": end - first, "tokens": n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    spec = json.load(open(args.input))

    llm = Llama(model_path=args.model, n_ctx=2048, n_threads=args.threads,
                n_threads_batch=args.threads, n_batch=512, verbose=False)
    out = {"peer": "llama-cpp-python", "version": __import__("llama_cpp").__version__}
    for name, tokens in spec["prompts"].items():
        runs = []
        for _ in range(args.repeats):
            llm.reset()
            runs.append(completion_timing(llm, tokens, spec["max_tokens"]))
        out[name] = {
            "prompt_tokens": len(tokens),
            "prefill_tps": statistics.median(len(tokens) / r["ttft_s"] for r in runs),
            "decode_tps": statistics.median((r["tokens"] - 1) / r["decode_s"] for r in runs if r["tokens"] > 1),
            "output_tokens": runs[0]["tokens"],
        }

    scorer = Llama(model_path=args.model, n_ctx=2048, n_threads=args.threads,
                   n_threads_batch=args.threads, n_batch=512, logits_all=True, verbose=False)
    picks = []
    start = time.perf_counter()
    for item in spec["items"]:
        scores = []
        for ctx, cont in zip(item["context_tokens"], item["continuation_tokens"]):
            scorer.reset()
            whole = ctx + cont
            scorer.eval(whole[:-1])
            logits = np.asarray(scorer.scores[len(ctx) - 1:len(whole) - 1], dtype=np.float64)
            m = logits.max(axis=1, keepdims=True)
            lse = (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))[:, 0]
            scores.append(float(sum(logits[i, t] - lse[i] for i, t in enumerate(cont))))
        picks.append(int(np.argmax(scores)))
    elapsed = time.perf_counter() - start
    out["mc"] = {"items": len(spec["items"]), "seconds": elapsed,
                 "items_per_s": len(spec["items"]) / elapsed, "picks": picks}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
