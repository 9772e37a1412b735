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
# llama-cpp-python 0.3.36 is built from its sdist once (about 4 minutes, without native CPU
# flags) into $PROVMARK_CACHE/wheels-portable and installed from there. torch and transformers (5.7 GB with their CUDA libraries) are not installed
# here; the tests that need them skip unless they are present.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${PROVMARK_VENV:-$HOME/.cache/provmark/venv}"
PY="$VENV/bin/python"

LLAMA_PY="llama-cpp-python==0.3.36"
# Our own wheel of it, built without -march=native: a native build on a CPU with AMX enables
# llama.cpp's AMX kernels, which crash (SIGSEGV in decode) in VMs that do not grant the AMX
# state; pip's own wheel cache could hand back such a build, so the wheel lives here instead.
WHEELS="${PROVMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/provmark}/wheels-portable"

env_setup() {
  if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV" >&2
  fi
  "$PY" -m pip install -q --disable-pip-version-check \
    "maturin==1.16.0" "numpy==2.4.6" "pytest==9.2.0" >&2
  if ! ls "$WHEELS"/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then
    echo "python.sh: building $LLAMA_PY without native CPU flags (about 4 minutes, once)" >&2
    CMAKE_ARGS="-DGGML_NATIVE=OFF" "$PY" -m pip wheel -q --disable-pip-version-check \
      --no-cache-dir --no-deps --no-binary llama-cpp-python "$LLAMA_PY" -w "$WHEELS" >&2
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
