-- The open incidents after each minute (ids, opening minutes, members), written with that
-- minute's incidents: a restarted job goes on with the same incidents however long they have
-- been open, where the replayed hour alone would reopen one under a new id. Rows older than a
-- day are removed as new ones are written; only the newest before a restart point is read.
CREATE TABLE IF NOT EXISTS incident_state (
    time TIMESTAMPTZ PRIMARY KEY,
    open JSONB NOT NULL
);
