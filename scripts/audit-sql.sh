#!/usr/bin/env bash
# Audits on a query engine: exports two overlapping shards with `provmark audit
# --export-parquet` and checks that the documented DuckDB SQL (docs/sql) gives exactly the n and
# green of provmark's own audit, that `provmark pvalue` and `audit --merge` agree, and measures
# approximate COUNT DISTINCT against the exact one (tests/sql/check_export.py).
#
#   scripts/audit-sql.sh [PROVMARK_BINARY]   (default target/debug/provmark)
#
# DuckDB comes from its PyPI wheel, in a virtualenv cached at PROVMARK_SQL_VENV (default
# ~/.cache/provmark/sql-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-target/debug/provmark}"
VENV="${PROVMARK_SQL_VENV:-$HOME/.cache/provmark/sql-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" >&2
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "duckdb==2.0.0" >&2
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/python" tests/sql/check_export.py "$BIN" "$WORK"
