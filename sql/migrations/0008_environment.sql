-- Service identity: the environment (deployment.environment.name) is part of a service's key,
-- so prod and staging copies of a service never merge. Here the graph tables; the feature table
-- and its hourly rollup in 0008_environment.<path>.sql. Existing rows get '' (no environment),
-- which is what the job wrote for them; NOT NULL because the column is part of the keys.
ALTER TABLE service_edges ADD COLUMN IF NOT EXISTS environment TEXT NOT NULL DEFAULT '';
ALTER TABLE service_edges ADD COLUMN IF NOT EXISTS callee_environment TEXT NOT NULL DEFAULT '';
ALTER TABLE service_edges DROP CONSTRAINT IF EXISTS service_edges_pkey;
ALTER TABLE service_edges ADD CONSTRAINT service_edges_pkey
    PRIMARY KEY (environment, caller, callee_environment, callee, time);

ALTER TABLE service_dependencies ADD COLUMN IF NOT EXISTS environment TEXT NOT NULL DEFAULT '';
ALTER TABLE service_dependencies
    ADD COLUMN IF NOT EXISTS callee_environment TEXT NOT NULL DEFAULT '';
ALTER TABLE service_dependencies DROP CONSTRAINT IF EXISTS service_dependencies_pkey;
ALTER TABLE service_dependencies ADD CONSTRAINT service_dependencies_pkey
    PRIMARY KEY (environment, caller, callee_environment, callee, valid_from);

-- An incident is about one environment (its root cause's); its services are named within it.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS environment TEXT NOT NULL DEFAULT '';

-- Dependency intervals per (environment, caller, callee environment, callee).
CREATE OR REPLACE FUNCTION aiops_extend_dependencies(at_time TIMESTAMPTZ, expiry INTERVAL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    edge RECORD;
    current RECORD;
    start TIMESTAMPTZ;
    until TIMESTAMPTZ;
BEGIN
    FOR edge IN SELECT environment, caller, callee_environment, callee
                  FROM service_edges WHERE time = at_time LOOP
        SELECT valid_from, last_seen INTO current
          FROM service_dependencies d
         WHERE d.environment = edge.environment AND d.caller = edge.caller
           AND d.callee_environment = edge.callee_environment AND d.callee = edge.callee
           AND d.valid_from <= at_time
         ORDER BY d.valid_from DESC LIMIT 1;
        IF FOUND AND current.last_seen + interval '1 minute' + expiry >= at_time THEN
            start := current.valid_from;
            until := greatest(current.last_seen, at_time);
        ELSE
            start := at_time;
            until := at_time;
        END IF;
        INSERT INTO service_dependencies AS d
               (environment, caller, callee_environment, callee, valid_from, last_seen, valid_to,
                calls, errors, p95_ms)
        SELECT edge.environment, edge.caller, edge.callee_environment, edge.callee, start,
               max(e.time), max(e.time) + interval '1 minute' + expiry, sum(e.calls),
               sum(e.errors), (array_agg(e.p95_ms ORDER BY e.time DESC))[1]
          FROM service_edges e
         WHERE e.environment = edge.environment AND e.caller = edge.caller
           AND e.callee_environment = edge.callee_environment AND e.callee = edge.callee
           AND e.time >= start AND e.time <= until
        ON CONFLICT (environment, caller, callee_environment, callee, valid_from) DO UPDATE
           SET last_seen = EXCLUDED.last_seen, valid_to = EXCLUDED.valid_to,
               calls = EXCLUDED.calls, errors = EXCLUDED.errors, p95_ms = EXCLUDED.p95_ms;
    END LOOP;
END;
$$;
