#!/usr/bin/env python3
"""Check a completions server's `echo` prompt log-probabilities before trusting it as a peer.

Sends "The capital of France is Paris" with echo=True and compares the log-probability the
echo response gives the token " Paris" with the one a plain (non-echo) completion of
"The capital of France is" gives its first generated token " Paris". A correct server lists
the same value at the position of " Paris"; a server whose echo logprobs are shifted by one
position lists it one token earlier.

Usage: check_echo.py BASE_URL   (e.g. http://127.0.0.1:8080)   -- stdlib only.
Exit status 0: echo logprobs aligned; 2: shifted or inconsistent.
"""
import json
import sys
import urllib.request


def post(base, body):
    req = urllib.request.Request(
        base.rstrip("/") + "/v1/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def main():
    base = sys.argv[1]
    ctx = "The capital of France is"
    full = ctx + " Paris"
    plain = post(base, {"prompt": ctx, "max_tokens": 1, "temperature": 0, "logprobs": 5})
    p = plain["choices"][0]["logprobs"]
    gen_tok, gen_lp = p["tokens"][0], p["token_logprobs"][0]
    print(f"plain completion of {ctx!r}: first token {gen_tok!r} logprob {gen_lp:.4f}")

    # max_tokens=1 as lm-eval's gguf backend sends (llama-cpp-python rejects 0 with echo on some versions).
    echo = post(base, {"prompt": full, "max_tokens": 1, "temperature": 0, "logprobs": 1, "echo": True})
    e = echo["choices"][0]["logprobs"]
    print("echo of", repr(full), "(max_tokens=1; the last row is the generated token):")
    for i, (t, lp, off) in enumerate(zip(e["tokens"], e["token_logprobs"], e["text_offset"])):
        lps = "None" if lp is None else f"{lp:.4f}"
        print(f"  [{i}] offset {off:3d} {t!r:>12} {lps}")
    try:
        idx = e["tokens"].index(" Paris")
    except ValueError:
        print("echo response has no ' Paris' token; cannot check")
        return 2
    at = e["token_logprobs"][idx]
    before = e["token_logprobs"][idx - 1]
    print(f"echo logprob at ' Paris' position [{idx}]: {at}; one position earlier: {before}")
    if gen_tok == " Paris" and at is not None and abs(at - gen_lp) < 1e-3:
        print("VERDICT: aligned (echo logprob of ' Paris' equals the plain completion's)")
        return 0
    if before is not None and abs(before - gen_lp) < 1e-3:
        print("VERDICT: SHIFTED by one position (the value for ' Paris' is listed one token early)")
        return 2
    print("VERDICT: inconsistent (neither position matches the plain completion)")
    return 2


if __name__ == "__main__":
    sys.exit(main())
