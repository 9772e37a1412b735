-- n and green of every account of one coded master over the exact DISTINCT union of every
-- shard's export (DuckDB). Account a's green count is the number of tuples whose class bit
-- codeword_a[position] is set.
-- {exports}:   a list of globs of the shards' bucket files
-- {codewords}: one shard's codewords-<master id>.parquet (identical in every shard)
-- {pos}, {cls}: the master's columns, pos_<master id> and cls_<master id>
WITH t AS (
  SELECT DISTINCT fp, {pos} AS position, {cls} AS classes FROM read_parquet({exports})
),
total AS (SELECT COUNT(*) AS n FROM t),
per_class AS (
  SELECT position, s.symbol, SUM((classes >> s.symbol) & 1) AS green
  FROM t CROSS JOIN range(16) AS s(symbol)
  GROUP BY position, s.symbol
)
SELECT w.account, total.n, CAST(COALESCE(SUM(per_class.green), 0) AS BIGINT) AS green
FROM read_parquet('{codewords}') AS w
LEFT JOIN per_class ON per_class.position = w.position AND per_class.symbol = w.symbol
CROSS JOIN total
GROUP BY w.account, total.n
ORDER BY green DESC, w.account;
