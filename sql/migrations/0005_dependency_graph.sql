-- The dependency graph and incidents, written by the job as windows close.
--
-- service_edges: one row per caller -> callee edge and minute (calls, errors, latency
-- quantiles, and the median network gap: the caller's outgoing span minus the callee's span).
-- Rewriting a minute (a replay) upserts the same values.
CREATE TABLE IF NOT EXISTS service_edges (
    time TIMESTAMPTZ NOT NULL,
    caller TEXT NOT NULL,
    callee TEXT NOT NULL,
    virtual_callee BOOLEAN NOT NULL,
    calls BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    p50_ms DOUBLE PRECISION,
    p95_ms DOUBLE PRECISION,
    p99_ms DOUBLE PRECISION,
    gap_p50_ms DOUBLE PRECISION,
    PRIMARY KEY (caller, callee, time)
);
CREATE INDEX IF NOT EXISTS service_edges_by_time ON service_edges (time);

-- service_dependencies: the live graph as validity intervals. An edge is live from the minute
-- it is first seen until it has been unseen for graph.edge_expiry_minutes; a new sighting
-- after that opens a new interval. valid_to = last_seen + 1 minute + expiry, so
--   SELECT * FROM service_dependencies WHERE valid_from <= T AND T < valid_to
-- is the graph at time T. calls and errors are totals over the interval, p95_ms is that of the
-- last minute seen. Derived from service_edges by aiops_extend_dependencies, so rewriting a
-- minute changes nothing.
CREATE TABLE IF NOT EXISTS service_dependencies (
    caller TEXT NOT NULL,
    callee TEXT NOT NULL,
    valid_from TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL,
    valid_to TIMESTAMPTZ NOT NULL,
    calls BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    p95_ms DOUBLE PRECISION,
    PRIMARY KEY (caller, callee, valid_from)
);
CREATE INDEX IF NOT EXISTS service_dependencies_by_validity
    ON service_dependencies (valid_from, valid_to);

-- Extends (or opens) the interval of every edge seen at at_time.
CREATE OR REPLACE FUNCTION aiops_extend_dependencies(at_time TIMESTAMPTZ, expiry INTERVAL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    edge RECORD;
    current RECORD;
    start TIMESTAMPTZ;
    until TIMESTAMPTZ;
BEGIN
    FOR edge IN SELECT caller, callee FROM service_edges WHERE time = at_time LOOP
        SELECT valid_from, last_seen INTO current
          FROM service_dependencies
         WHERE caller = edge.caller AND callee = edge.callee AND valid_from <= at_time
         ORDER BY valid_from DESC LIMIT 1;
        IF FOUND AND current.last_seen + interval '1 minute' + expiry >= at_time THEN
            start := current.valid_from;
            until := greatest(current.last_seen, at_time);
        ELSE
            start := at_time;
            until := at_time;
        END IF;
        INSERT INTO service_dependencies AS d
               (caller, callee, valid_from, last_seen, valid_to, calls, errors, p95_ms)
        SELECT edge.caller, edge.callee, start, max(e.time),
               max(e.time) + interval '1 minute' + expiry, sum(e.calls), sum(e.errors),
               (array_agg(e.p95_ms ORDER BY e.time DESC))[1]
          FROM service_edges e
         WHERE e.caller = edge.caller AND e.callee = edge.callee
           AND e.time >= start AND e.time <= until
        ON CONFLICT (caller, callee, valid_from) DO UPDATE
           SET last_seen = EXCLUDED.last_seen, valid_to = EXCLUDED.valid_to,
               calls = EXCLUDED.calls, errors = EXCLUDED.errors, p95_ms = EXCLUDED.p95_ms;
    END LOOP;
END;
$$;

-- incidents: one row per incident and minute it was anomalous (the ranking of that minute).
CREATE TABLE IF NOT EXISTS incidents (
    incident_id TEXT NOT NULL,
    time TIMESTAMPTZ NOT NULL,
    opened_at TIMESTAMPTZ NOT NULL,
    anomalous_services TEXT[] NOT NULL,
    method TEXT NOT NULL,
    root_cause TEXT,
    candidates JSONB NOT NULL,
    rankings JSONB NOT NULL,
    PRIMARY KEY (incident_id, time)
);
CREATE INDEX IF NOT EXISTS incidents_by_time ON incidents (time);
