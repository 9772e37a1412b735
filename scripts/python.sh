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
# llama-cpp-python 0.3.36 is built from its sdist once (about 4 minutes) and then comes from
# pip's wheel cache. torch and transformers (5.7 GB with their CUDA libraries) are not installed
# here; the tests that need them skip unless they are present.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${PROVMARK_VENV:-$HOME/.cache/provmark/venv}"
PY="$VENV/bin/python"

env_setup() {
  if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV" >&2
  fi
  "$PY" -m pip install -q --disable-pip-version-check \
    "maturin==1.16.0" "numpy==2.4.6" "pytest==9.2.0" "llama-cpp-python==0.3.36" >&2
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
