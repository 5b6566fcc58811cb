#!/usr/bin/env bash
# HaluEval validator with and without a grammar: each model runs the task unconstrained,
# under --constrain json (any JSON object) and under --constrain schema (result among the
# task's labels), into one directory. Prints macro-F1, the JSON-valid rate, output tokens,
# output tokens/s over the run, and the decode rate (1 / median time per output token) of
# each run; at BATCH=1 the decode rate is the grammar's cost per token, free of batching.
#   scripts/bench/halueval_grammar.sh ITEMS THREADS OUT [MODEL...]
# Environment: TRILEMMA_BIN [target/release/trilemma], BATCH [8].
set -euo pipefail
items=${1:?items}; threads=${2:?threads}; out=${3:?out}; shift 3
mkdir -p "$out"
models=("$@"); [ ${#models[@]} -gt 0 ] || models=(smollm2-135m qwen2.5-coder-0.5b)
bin=${TRILEMMA_BIN:-target/release/trilemma}
for m in "${models[@]}"; do
  for c in none json schema; do
    flag=(); [ "$c" = none ] || flag=(--constrain "$c")
    start=$(date +%s)
    "$bin" run -m "$m" -t halueval-validator --limit "$items" --threads "$threads" \
      --batch-size "${BATCH:-8}" --idle-baseline 0 --out "$out" "${flag[@]}" --json > "$out/$m.$c.json"
    echo "$m $c: $(( $(date +%s) - start )) s" >&2
  done
done
python3 - "$out" <<'PY'
import json, sys, glob
print("| model | task | batch | items | macro-F1 [95% CI] | JSON valid | output tokens | output tok/s | TPOT p50 ms | decode tok/s (1/TPOT p50) | mean latency s |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    for s in json.load(open(f)):
        m = s["metrics"]
        f1 = m["macro_f1"]; jv = m["json_valid"]["value"]
        print(f"| {s['model']['name']} | {s['task']} | {s['batch_size']} | {s['samples']} | {f1['value']:.3f} [{f1['ci_low']:.3f}, {f1['ci_high']:.3f}] "
              f"| {jv:.3f} | {s['throughput']['output_tokens']} | {s['throughput']['output_tokens_per_s']:.2f} "
              f"| {s['tpot_s']['p50'] * 1e3:.1f} | {1 / s['tpot_s']['p50']:.1f} | {s['latency_s']['mean']:.2f} |")
PY
