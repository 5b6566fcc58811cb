#!/usr/bin/env bash
# Installs the system packages Trilemma needs to build and test, when they are missing:
# cmake, clang and libclang-dev (to build llama.cpp through llama-cpp-sys-2), and
# Debian's chromium (the HTML report test renders the report headless), and Python's venv
# (the lm-evaluation-harness test installs lm-eval into one).
set -euo pipefail
need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v clang >/dev/null 2>&1 || need+=(clang)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 || need+=(libclang-dev)
if [ "${TRILEMMA_NO_CHROMIUM:-0}" != 1 ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-pip)
# The lm-evaluation-harness test installs its pinned peer into a venv (ensurepip).
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
