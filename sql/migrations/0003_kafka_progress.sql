-- Kafka resume offsets also record up to where the feature windows were complete when the
-- offsets were stored: rows of minutes before `windows_complete_before` are durable, so a
-- restarted job replays from `resume_offset` only to rebuild window state and does not
-- rewrite those rows (their replayed windows would lack the records before the resume point).
ALTER TABLE aiops_kafka_offsets
    ADD COLUMN IF NOT EXISTS windows_complete_before TIMESTAMPTZ;
