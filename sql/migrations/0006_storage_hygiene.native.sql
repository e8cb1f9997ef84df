-- Without TimescaleDB: the hourly rollup keeps the largest minute p99 of each hour instead of
-- their average (an average of p99s is no percentile of anything), recomputed for the hours
-- already rolled up. The graph and incident tables' retention is applied by the job (rows
-- deleted past the horizon), see engine/src/sink/postgres/graph.rs.
ALTER TABLE otlp_features_1h RENAME COLUMN avg_p99_latency TO max_p99_latency;
UPDATE otlp_features_1h r SET max_p99_latency = h.p99
  FROM (SELECT date_trunc('hour', time) AS bucket, service_name, max(p99_latency_1m) AS p99
          FROM otlp_ai_features GROUP BY 1, 2) h
 WHERE h.bucket = r.bucket AND h.service_name = r.service_name;
