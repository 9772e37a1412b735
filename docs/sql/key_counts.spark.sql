-- The same as key_counts.duckdb.sql in Spark SQL ({exports}: a directory of bucket=* dirs).
SELECT COUNT(*) AS n, SUM(CAST({green} AS BIGINT)) AS green
FROM (SELECT DISTINCT fp, {green} FROM parquet.`{exports}`);
