-- The same as account_counts.duckdb.sql in Spark SQL. {exports}: a directory holding every
-- shard's bucket=* directories (or a UNION ALL of several); {codewords}: one codewords file.
WITH t AS (
  SELECT DISTINCT fp, {pos} AS position, {cls} AS classes FROM parquet.`{exports}`
),
total AS (SELECT COUNT(*) AS n FROM t),
per_class AS (
  SELECT position, s.symbol, SUM(shiftright(classes, s.symbol) & 1) AS green
  FROM t CROSS JOIN (SELECT explode(sequence(0, 15)) AS symbol) AS s
  GROUP BY position, s.symbol
)
SELECT w.account, total.n, CAST(COALESCE(SUM(per_class.green), 0) AS BIGINT) AS green
FROM parquet.`{codewords}` AS w
LEFT JOIN per_class ON per_class.position = w.position AND per_class.symbol = w.symbol
CROSS JOIN total
GROUP BY w.account, total.n
ORDER BY green DESC, w.account;
