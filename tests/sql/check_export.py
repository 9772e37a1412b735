"""End-to-end check of audit exports on DuckDB and Spark (run by scripts/audit-sql.sh in CI).

Two overlapping shards of a corpus (watermarked under one coded account and under a plain
key, plus unwatermarked text) are exported with `provmark audit --export-parquet`. The
documented SQL (docs/sql/*.duckdb.sql, used verbatim) over both shards must give exactly the n
and green of provmark's own audit of the whole corpus, for the key and for every account;
`provmark pvalue` on those counts must give the audit's p-value; `provmark audit --merge` must
reproduce the audit; the Spark SQL versions must give the same counts on a local Spark;
shards exported under other keys must be refused; and DuckDB's
approximate COUNT DISTINCT is measured against the exact count (never to be used for a
p-value).

Usage: python check_export.py PROVMARK_BINARY WORK_DIR
"""
import json
import pathlib
import subprocess
import sys

import duckdb

BIN, WORK = sys.argv[1], pathlib.Path(sys.argv[2])
SQL = pathlib.Path(__file__).resolve().parents[2] / "docs" / "sql"


def run(*args, ok=(0,)):
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True)
    if p.returncode not in ok:
        sys.exit(f"provmark {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}")
    return p


def sql(name, **fields):
    text = (SQL / name).read_text()
    for k, v in fields.items():
        text = text.replace("{" + k + "}", v)
    return duckdb.sql(text).fetchall()


WORK.mkdir(parents=True, exist_ok=True)
run("keygen", "--master", "--out", WORK / "master.json")
run("keygen", "--out", WORK / "key.json")
accounts = [f"acct-{i:04d}" for i in range(300)]
(WORK / "accounts.txt").write_text("\n".join(accounts) + "\n")
run("derive", "--master", WORK / "master.json", "--account", "acct-0042", "--out", WORK / "a42.json")
docs = []
for i in range(16):
    key = WORK / ("a42.json" if i % 2 == 0 else "key.json")
    extra = ["--no-watermark"] if i % 4 == 3 else []
    d = WORK / f"doc{i:02d}.txt"
    d.write_text(run("generate", "--key", key, "--tokens", 150, "--seed", i, *extra).stdout)
    docs.append(d)
targets = ["--master", WORK / "master.json", "--accounts", WORK / "accounts.txt", "--key", WORK / "key.json"]
# Overlapping shards: documents 6..9 are in both.
run("audit", *targets, "--export-parquet", WORK / "shard-a", "--shard", "a", *docs[:10], ok=(0, 1))
run("audit", *targets, "--export-parquet", WORK / "shard-b", "--shard", "b", *docs[6:], ok=(0, 1))
full = [json.loads(l) for l in run("audit", *targets, "--json", *docs, ok=(0, 1)).stdout.splitlines()]
rows, summary = full[:-1], full[-1]
by_label = {(r["account"] or r["key_id"]): r for r in rows}

manifest = json.loads((WORK / "shard-a" / "manifest-a.json").read_text())
green_col = manifest["columns"][0]["parquet"][0]
pos_col, cls_col = manifest["columns"][1]["parquet"]
exports = repr([str(WORK / s / "bucket=*" / "*.parquet") for s in ("shard-a", "shard-b")])
key_id = manifest["columns"][0]["key_id"]
master_id = manifest["columns"][1]["key_id"]

[(n, green)] = sql("key_counts.duckdb.sql", exports=exports, green=green_col)
want = by_label[key_id]
assert (n, green) == (want["scored"], want["green"]), ((n, green), want)
print(f"key {key_id}: SQL n {n} green {green} = provmark's audit")

codewords = str(WORK / "shard-a" / f"codewords-{master_id.replace('-', '_')}.parquet")
counts = sql("account_counts.duckdb.sql", exports=exports, codewords=codewords, pos=pos_col, cls=cls_col)
assert len(counts) == len(accounts)
for account, n_a, green_a in counts:
    r = by_label[account]
    assert (n_a, green_a) == (r["scored"], r["green"]), (account, n_a, green_a, r)
top = counts[0]
print(f"{len(counts)} accounts: SQL n and green = provmark's audit (top: {top[0]}, {top[2]} green of {top[1]})")

# The exact p-value from the SQL counts equals the audit's.
for label, n_x, g_x in [(key_id, n, green), (top[0], top[1], top[2])]:
    p = json.loads(run("pvalue", "--n", n_x, "--green", g_x, "--gamma", 0.25, "--json").stdout)
    assert abs(p["log10_p_value"] - by_label[label]["log10_p_value"]) < 1e-9, (label, p)
print("provmark pvalue on the SQL counts = the audit's p-values")

# The merge of both shards reproduces the audit.
merged = [json.loads(l) for l in run("audit", "--merge", *targets, "--json", WORK / "shard-a", WORK / "shard-b", ok=(0, 1)).stdout.splitlines()]
for r in merged[:-1]:
    w = by_label[r["account"] or r["key_id"]]
    assert (r["scored"], r["green"], r["log10_p_value"]) == (w["scored"], w["green"], w["log10_p_value"])
assert merged[-1]["attribution"] == summary["attribution"] and merged[-1]["tied"] == summary["tied"]
print(f"audit --merge = the audit (attribution {summary['attribution']})")

# A shard exported under other keys is refused.
run("keygen", "--out", WORK / "other.json")
run("audit", "--key", WORK / "other.json", "--export-parquet", WORK / "shard-c", "--shard", "c", *docs[:4], ok=(0, 1))
bad = run("audit", "--merge", *targets, WORK / "shard-a", WORK / "shard-c", ok=(2,))
assert "other keys" in bad.stderr, bad.stderr
print("shards of other keys: refused")

# The Spark SQL versions (docs/sql/*.spark.sql, verbatim) give the same counts, on a local
# Spark from PyPI's pyspark (scripts/audit-sql.sh installs it; skipped where it is absent).
try:
    from pyspark.sql import SparkSession
except ImportError:
    SparkSession = None
if SparkSession is None:
    print("Spark SQL: skipped (pyspark is not installed)")
else:
    spark = (SparkSession.builder.master("local[2]").appName("provmark-audit-sql")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "4")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")

    def spark_sql(name, **fields):
        text = (SQL / name).read_text()
        for k, v in fields.items():
            text = text.replace("{" + k + "}", v)
        # Comments and the trailing semicolon are not part of Spark's statement.
        body = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("--"))
        return [tuple(r) for r in spark.sql(body.strip().rstrip(";")).collect()]

    shards = str(WORK / "shard-{a,b}" / "bucket=*" / "*.parquet")
    [(sn, sg)] = spark_sql("key_counts.spark.sql", exports=shards, green=green_col)
    assert (sn, sg) == (n, green), ((sn, sg), (n, green))
    scounts = spark_sql("account_counts.spark.sql", exports=shards, codewords=codewords, pos=pos_col, cls=cls_col)
    assert sorted(scounts) == sorted(counts), (scounts[:3], counts[:3])
    spark.stop()
    import pyspark
    print(f"Spark SQL (pyspark {pyspark.__version__}): the same n and green for the key and all {len(scounts)} accounts")

# Approximate COUNT DISTINCT (HyperLogLog) is not the exact count.
[(exact, approx)] = duckdb.sql(
    f"SELECT COUNT(DISTINCT fp), approx_count_distinct(fp) FROM read_parquet({exports})").fetchall()
print(f"DuckDB approx_count_distinct: {approx} against exact {exact} "
      f"({100 * (approx - exact) / exact:+.2f} %): never use it for a p-value")
assert exact == n
