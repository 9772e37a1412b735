#!/usr/bin/env bash
# Audits on a query engine: exports two overlapping shards with `provmark audit
# --export-parquet` and checks that the documented DuckDB and Spark SQL (docs/sql) give exactly the n and
# green of provmark's own audit, that `provmark pvalue` and `audit --merge` agree, and measures
# approximate COUNT DISTINCT against the exact one (tests/sql/check_export.py).
#
#   scripts/audit-sql.sh [PROVMARK_BINARY]   (default target/debug/provmark)
#   scripts/audit-sql.sh install             only create the virtualenv (CI starts it early,
#                                            beside the build)
#
# DuckDB and pyspark (a local Spark on the machine's Java) come from PyPI, in a virtualenv cached at PROVMARK_SQL_VENV (default
# ~/.cache/provmark/sql-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-target/debug/provmark}"
VENV="${PROVMARK_SQL_VENV:-$HOME/.cache/provmark/sql-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" >&2
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "duckdb==2.0.0" "pyspark==4.3.0" >&2
if [ "$BIN" = install ]; then
  exit 0
fi
# Spark runs locally (Java 17 is on the machine): no network, quiet.
export SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$VENV/bin/python"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/python" tests/sql/check_export.py "$BIN" "$WORK"
