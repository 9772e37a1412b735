#!/usr/bin/env bash
# Builds llama.cpp from the sources vendored by the llama-cpp-python sdist on PyPI (pinned by
# sha256) into the cache, and the provmark C example against it.
#
#   scripts/llama-cpp.sh build     # -> prints the llama.cpp directory (src/, build/bin/libllama.so)
#   scripts/llama-cpp.sh example   # also builds provmark-c and prints the path of llama_generate
#   scripts/llama-cpp.sh tokenize MODEL.gguf  # llama.cpp's ids for crates/text/tests/data/
#                                             # smollm2-texts.jsonl (the committed vectors)
#
# Cache: $PROVMARK_CACHE (default ~/.cache/provmark)/llama.cpp-VERSION; nothing is rebuilt when a
# finished build is there. cmake and ninja come from PATH or, if missing, from PyPI. The example
# is compiled with $CC (default cc) and links libprovmark_c.a from the cargo target directory
# (built here in the dev profile, or PROVMARK_C_PROFILE=release).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.3.36
SHA=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
URL="https://files.pythonhosted.org/packages/ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca773a59fe7cf3/llama_cpp_python-$VERSION.tar.gz"
CACHE="${PROVMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/provmark}"
DIR="$CACHE/llama.cpp-$VERSION"
MODE="${1:-build}"
log() { echo "llama-cpp.sh: $*" >&2; }

tool() { # tool NAME PYPI_SPEC MODULE_DIR_ATTR -> path of a working binary
  if command -v "$1" >/dev/null 2>&1; then
    command -v "$1"
    return
  fi
  log "installing $2 from PyPI"
  python3 -m pip install --quiet "$2" >&2
  python3 -c "import $1, os; print(os.path.join($1.$3, '$1'))"
}

build_llama() {
  if [ -f "$DIR/build/.done" ]; then
    return
  fi
  mkdir -p "$CACHE"
  local tmp
  tmp="$(mktemp -d)"
  log "fetching llama-cpp-python $VERSION sdist (77 MB) for its vendored llama.cpp"
  curl -fsSL --retry 3 -o "$tmp/sdist.tar.gz" "$URL"
  if [ "$(sha256sum "$tmp/sdist.tar.gz" | cut -d' ' -f1)" != "$SHA" ]; then
    log "error: the sdist does not have the expected sha256 $SHA"
    exit 1
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR/src"
  tar -xzf "$tmp/sdist.tar.gz" -C "$DIR/src" --strip-components=3 \
    "llama_cpp_python-$VERSION/vendor/llama.cpp"
  rm -f "$DIR/src/.git" # a submodule pointer into the sdist author's checkout
  local cmake ninja
  cmake="$(tool cmake 'cmake>=3.18,<5' CMAKE_BIN_DIR)"
  ninja="$(tool ninja 'ninja>=1.10,<2' BIN_DIR)"
  log "building libllama with $("$cmake" --version | head -n 1) (about 4 minutes on 2 cores)"
  "$cmake" -S "$DIR/src" -B "$DIR/build" -G Ninja -DCMAKE_MAKE_PROGRAM="$ninja" \
    -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF >"$DIR/cmake.log"
  "$cmake" --build "$DIR/build" --target llama -j "$(nproc)" >"$DIR/build.log"
  rm -rf "$tmp"
  touch "$DIR/build/.done"
}

build_example() {
  local profile="${PROVMARK_C_PROFILE:-dev}" target="${CARGO_TARGET_DIR:-target}" sub
  sub=$([ "$profile" = dev ] && echo debug || echo "$profile")
  cargo build --quiet -p provmark-c --profile "$profile" >&2
  local out="$target/llama_generate"
  "${CC:-cc}" -std=c11 -O2 -Wall -Wextra -Werror \
    -Ibindings/c/include -Ibindings/c/llama -I"$DIR/src/include" -I"$DIR/src/ggml/include" \
    bindings/c/examples/llama_generate.c bindings/c/llama/provmark_llama.c \
    "$target/$sub/libprovmark_c.a" -L"$DIR/build/bin" -lllama -lggml -lggml-base \
    -Wl,-rpath,"$DIR/build/bin" -lm -lpthread -ldl -o "$out"
  echo "$out"
}

build_tokenize() {
  local out="${CARGO_TARGET_DIR:-target}/llama_tokenize"
  mkdir -p "$(dirname "$out")"
  "${CC:-cc}" -std=c11 -O2 -Wall -Wextra -Werror -I"$DIR/src/include" -I"$DIR/src/ggml/include" \
    bindings/c/tests/c/llama_tokenize.c -L"$DIR/build/bin" -lllama -lggml -lggml-base \
    -Wl,-rpath,"$DIR/build/bin" -o "$out"
  echo "$out"
}

case "$MODE" in
  build)
    build_llama
    echo "$DIR"
    ;;
  example)
    build_llama
    build_example
    ;;
  tokenize)
    build_llama
    "$(build_tokenize)" "${2:?usage: scripts/llama-cpp.sh tokenize MODEL.gguf}" \
      < crates/text/tests/data/smollm2-texts.jsonl
    ;;
  *)
    echo "usage: scripts/llama-cpp.sh [build|example|tokenize MODEL.gguf]" >&2
    exit 2
    ;;
esac
