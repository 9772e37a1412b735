-- n and green of one key over the exact DISTINCT union of every shard's export (DuckDB).
-- {exports}: a list of globs, e.g. ['shard-a/bucket=*/*.parquet', 'shard-b/bucket=*/*.parquet']
-- {green}:   the key's column, g_<key id> (see any manifest-*.json)
SELECT COUNT(*) AS n, SUM(CAST({green} AS BIGINT)) AS green
FROM (SELECT DISTINCT fp, {green} FROM read_parquet({exports}));
