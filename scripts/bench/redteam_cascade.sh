#!/usr/bin/env bash
# Seed 002's "robustness under attack": the same prompt-injection attacks against the
# monolith (SmolLM2-135M alone), the cascade (examples/cascade/chat.toml) and the cascade
# behind an input guard (examples/cascade/guarded.toml), then the three side by side.
#   scripts/bench/redteam_cascade.sh OUT [LIMIT]
# Environment: TRILEMMA_BIN [target/release/trilemma], THREADS [2].
set -euo pipefail
out=${1:?out}; limit=${2:-60}
bin=${TRILEMMA_BIN:-target/release/trilemma}
threads=${THREADS:-2}
here=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_up() {
  for _ in $(seq 300); do
    python3 -c "import urllib.request; urllib.request.urlopen('$1/health')" 2>/dev/null && return 0
    sleep 1
  done
  echo "$1 did not come up" >&2; return 1
}

"$bin" redteam -m smollm2-135m --threads "$threads" --limit "$limit" --out "$out/monolith.json" > "$out/monolith.txt"
for name in cascade guarded; do
  src=$here/examples/cascade/chat.toml; [ "$name" = guarded ] && src=$here/examples/cascade/guarded.toml
  # The example with each embedded tier held to THREADS.
  file=$out/$name.toml
  sed "s/^model = \(.*\)$/model = \1\nthreads = $threads/" "$src" > "$file"
  port=$(free_port)
  "$bin" serve --cascade "$file" --listen "127.0.0.1:$port" > "$out/$name.serve.log" 2>&1 &
  pid=$!
  wait_up "http://127.0.0.1:$port"
  "$bin" redteam --engine "http://127.0.0.1:$port/v1" --served-model cascade --limit "$limit" \
    --out "$out/$name.json" > "$out/$name.txt"
  curl -s "http://127.0.0.1:$port/metrics" > "$out/$name.metrics.txt" || true
  kill $pid; wait $pid 2>/dev/null || true
done
"$bin" redteam --compare "$out/monolith.json" "$out/cascade.json" "$out/guarded.json" | tee "$out/side-by-side.txt"
