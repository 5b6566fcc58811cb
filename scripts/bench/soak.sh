#!/usr/bin/env bash
# Soak: `trilemma serve` held at saturation (more requests in flight than its batch) for
# MINUTES, in rounds of `trilemma load`; the server's resident memory is read from /proc
# after the warm-up round and after every round. Prints one line per round and a verdict:
# RSS at the end within 5% of RSS after warm-up, and every request answered.
#   scripts/bench/soak.sh MINUTES OUT [MODEL]
# Environment: TRILEMMA_BIN [target/release/trilemma], THREADS [2], BATCH [4],
# CONCURRENCY [16], REQUESTS per round [64], MAX_TOKENS [32].
set -euo pipefail
minutes=${1:?minutes}; out=${2:?out}; model=${3:-smollm2-135m}
bin=${TRILEMMA_BIN:-target/release/trilemma}
threads=${THREADS:-2}; batch=${BATCH:-4}; conc=${CONCURRENCY:-16}
requests=${REQUESTS:-64}; max_tokens=${MAX_TOKENS:-32}
mkdir -p "$out"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve -m "$model" --listen "127.0.0.1:$port" --threads "$threads" --max-batch "$batch" \
  > "$out/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health')" 2>/dev/null && break
  sleep 1
done
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
round() {
  "$bin" load --engine "http://127.0.0.1:$port/v1" -m "$model" --task arc-easy \
    --concurrency "$conc" --requests "$requests" --max-tokens "$max_tokens" --json > "$out/round-$1.json"
  python3 - "$out/round-$1.json" <<'PY'
import json, sys
done = failed = 0
def walk(v):
    global done, failed
    if isinstance(v, dict):
        if "completed" in v and "failed" in v:
            done += v["completed"]; failed += v["failed"]
        else:
            for x in v.values(): walk(x)
    elif isinstance(v, list):
        for x in v: walk(x)
walk(json.load(open(sys.argv[1])))
print(done, failed)
PY
}
read -r ok bad < <(round warmup)
warm=$(rss_kib)
echo "warm-up: $ok answered, $bad failed; RSS $warm KiB" | tee "$out/soak.txt"
total_ok=0; total_bad=0; n=0; start=$SECONDS
while (( SECONDS - start < minutes * 60 )); do
  n=$((n + 1))
  read -r ok bad < <(round "$n")
  total_ok=$((total_ok + ok)); total_bad=$((total_bad + bad))
  echo "round $n at $((SECONDS - start)) s: $ok answered, $bad failed; RSS $(rss_kib) KiB" | tee -a "$out/soak.txt"
done
end=$(rss_kib)
python3 - "$warm" "$end" "$total_ok" "$total_bad" "$((SECONDS - start))" <<'PY' | tee -a "$out/soak.txt"
import sys
warm, end, ok, bad, secs = map(int, sys.argv[1:])
growth = (end - warm) / warm
print(f"soak: {secs} s at saturation, {ok} requests answered, {bad} failed; "
      f"RSS {warm} KiB after warm-up, {end} KiB at the end ({100 * growth:+.2f}%): "
      + ("bounded (within 5%)" if abs(growth) <= 0.05 else "NOT within 5%")
      + ("" if bad == 0 else "; requests were lost"))
PY
