#!/usr/bin/env bash
# The Python package's environment and checks.
#
#   scripts/python.sh env     create (or reuse) a virtualenv with the test dependencies and
#                             llama-cpp-python, install provmark from bindings/python into it,
#                             print its python
#   scripts/python.sh test    env, then the pytest suite (PROVMARK_MODEL enables the
#                             llama-cpp-python end-to-end test)
#   scripts/python.sh bench   env, then the per-step overhead bench (quick)
#
# PROVMARK_VENV (default ~/.cache/provmark/venv) is the virtualenv. The package is built in the
# dev profile (PROVMARK_PY_PROFILE; its hot crates are at opt-level 3) so it reuses the
# workspace's test build; users install with plain `pip install ./bindings/python` (release).
# llama-cpp-python 0.3.36 is installed without a llama.cpp build of its own (seconds) and loads
# the libllama of scripts/llama-cpp.sh (LLAMA_CPP_LIB_PATH, exported here; set it too to use
# the virtualenv's llama_cpp by hand). torch and transformers (5.7 GB with their CUDA
# libraries) are not installed here; the tests that need them skip unless they are present.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${PROVMARK_VENV:-$HOME/.cache/provmark/venv}"
PY="$VENV/bin/python"

LLAMA_PY="llama-cpp-python==0.3.36"
# llama-cpp-python's Python code, without its own build of llama.cpp: it loads the libllama
# that scripts/llama-cpp.sh builds (the same llama.cpp sources, vendored in that package's sdist,
# built without -march=native and cached; the C example links it too) through
# LLAMA_CPP_LIB_PATH. One llama.cpp build instead of two; and a native build on a CPU with AMX
# enables llama.cpp's AMX kernels, which crash (SIGSEGV in decode) in VMs that do not grant the
# AMX state.
WHEELS="${PROVMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/provmark}/wheels-nolib"
LLAMA_DIR="$(scripts/llama-cpp.sh build)"
export LLAMA_CPP_LIB_PATH="$LLAMA_DIR/build/bin"

env_setup() {
  if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV" >&2
  fi
  "$PY" -m pip install -q --disable-pip-version-check \
    "maturin==1.16.0" "numpy==2.4.6" "pytest==9.2.0" >&2
  if ! ls "$WHEELS"/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then
    CMAKE_ARGS="-DLLAMA_BUILD=OFF -DMTMD_BUILD=OFF" "$PY" -m pip wheel -q \
      --disable-pip-version-check --no-cache-dir --no-deps --no-binary llama-cpp-python \
      "$LLAMA_PY" -w "$WHEELS" >&2
  fi
  "$PY" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps \
    "$WHEELS"/llama_cpp_python-0.3.36-*.whl >&2
  "$PY" -m pip install -q --disable-pip-version-check "$LLAMA_PY" >&2  # its dependencies
  MATURIN_PEP517_ARGS="--profile ${PROVMARK_PY_PROFILE:-dev}" \
    "$PY" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps ./bindings/python >&2
  echo "$PY"
}

case "${1:-}" in
  env) env_setup ;;
  test)
    env_setup >/dev/null
    cd bindings/python
    "$PY" -m pytest -q -rs tests
    ;;
  bench)
    env_setup >/dev/null
    "$PY" bindings/python/benches/overhead.py --quick
    ;;
  *)
    echo "usage: scripts/python.sh env|test|bench" >&2
    exit 2
    ;;
esac
