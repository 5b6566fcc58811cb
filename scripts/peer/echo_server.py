#!/usr/bin/env python3
"""A minimal OpenAI-style /v1/completions server with correct `echo` prompt logprobs.

Why it exists: llama-cpp-python 0.3.36's server scores each echoed prompt token i with the
logits computed *after* token i (the distribution of token i+1) instead of those after
token i-1, and leaves the generated token out of the echoed logprobs (so lm-eval's `gguf`
backend, which drops the last entry as the generated token, also loses the continuation's
last token). `check_echo.py` shows both. This server keeps everything else the same --
the same GGUF through the same llama-cpp-python bindings (`llama_cpp.Llama`, logits for
every position) -- and builds the response itself:

  token_logprobs[i] = log_softmax(logits after token i-1)[token i]   (None for the first)
  plus one greedily generated token at the end, as the OpenAI API lists it with echo
  (an end-of-sequence token included).

It serves one request at a time (lm-eval's gguf backend is sequential). Run it with the
shared peer venv's Python:  echo_server.py MODEL.gguf PORT [THREADS]
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
from llama_cpp import Llama

MODEL, PORT = sys.argv[1], int(sys.argv[2])
THREADS = int(sys.argv[3]) if len(sys.argv) > 3 else 2
# n_threads_batch is set too: its default spawns OpenMP workers that spin on a busy machine.
llm = Llama(
    model_path=MODEL,
    n_ctx=2048,
    n_threads=THREADS,
    n_threads_batch=THREADS,
    logits_all=True,
    verbose=False,
)


def log_softmax(rows):
    rows = rows.astype(np.float64)
    m = rows.max(axis=-1, keepdims=True)
    return rows - m - np.log(np.exp(rows - m).sum(axis=-1, keepdims=True))


def piece(tokens, i):
    """Text of token i as it reads after tokens[:i] (same rule as llama-cpp-python)."""
    return llm.detokenize([tokens[i]], prev_tokens=tokens[:i]).decode("utf-8", errors="ignore")


def complete(body):
    prompt = body["prompt"]
    echo = bool(body.get("echo", False))
    max_tokens = int(body.get("max_tokens", 16) or 0)
    top_n = int(body.get("logprobs") or 0)
    toks = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
    has_bos = len(toks) > 0 and toks[0] == llm.token_bos()
    # Reuse the KV cache (and stored logits) of the longest common prefix with the previous
    # request: lm-eval sends an item's choices one after another with the same context.
    prev = list(llm.input_ids[: llm.n_tokens])
    common = 0
    while common < min(len(prev), len(toks) - 1) and prev[common] == toks[common]:
        common += 1
    llm.n_tokens = common
    llm.eval(toks[common:])
    lsm = log_softmax(np.array(llm.scores[: len(toks)]))
    generated = []
    while len(generated) < max_tokens:
        # Greedy: argmax of the last row.
        nxt = int(np.argmax(lsm[-1]))
        # An end-of-sequence token is listed too (and ends generation): lm-eval's gguf
        # backend always drops the last listed token as the generated one.
        generated.append((nxt, float(lsm[-1][nxt]), lsm[-1]))
        if nxt == llm.token_eos():
            break
        if len(generated) < max_tokens:
            llm.eval([nxt])
            row = log_softmax(np.array(llm.scores[llm.n_tokens - 1 : llm.n_tokens]))
            lsm = np.vstack([lsm, row])
    all_toks = list(toks) + [g[0] for g in generated]
    text_gen = llm.detokenize([g[0] for g in generated], prev_tokens=list(toks)).decode("utf-8", errors="ignore")
    out_tokens, offsets, lps, tops = [], [], [], []
    start = 1 if has_bos else 0
    first_listed = start if echo else len(toks)
    for i in range(first_listed, len(all_toks)):
        tok = all_toks[i]
        # Offsets are measured in the text without BOS, like llama-cpp-python's.
        offsets.append(len(llm.detokenize(all_toks[start:i]).decode("utf-8", errors="ignore")))
        out_tokens.append(piece(all_toks, i))
        if i == 0:
            lps.append(None)
            tops.append(None)
            continue
        row = lsm[i - 1]
        lps.append(float(row[tok]))
        best = np.argsort(-row)[: max(top_n, 1)]
        top = {piece(all_toks[:i] + [int(b)], i): float(row[b]) for b in best}
        top[out_tokens[-1]] = float(row[tok])
        tops.append(top)
    if echo and lps and not has_bos:
        lps[0], tops[0] = None, None
    text = (prompt if echo else "") + text_gen
    resp = {
        "object": "text_completion",
        "model": MODEL,
        "choices": [
            {
                "text": text,
                "index": 0,
                "finish_reason": "stop" if generated and generated[-1][0] == llm.token_eos() else "length",
                "logprobs": {
                    "tokens": out_tokens,
                    "text_offset": offsets,
                    "token_logprobs": lps,
                    "top_logprobs": tops,
                }
                if top_n or body.get("logprobs") == 0
                else None,
            }
        ],
        "usage": {"prompt_tokens": len(toks), "completion_tokens": len(generated)},
    }
    return resp


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        # The model list OpenAI clients (and Trilemma's preflight) ask for first.
        if self.path.rstrip("/") != "/v1/models":
            self.send_error(404)
            return
        data = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        if self.path.rstrip("/") != "/v1/completions":
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        data = json.dumps(complete(body)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


print(f"echo_server: {MODEL} on 127.0.0.1:{PORT}", flush=True)
HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
