-- A minute the input ended inside (a bounded replay's last minute, or the one a stop cut
-- short) holds only part of its telemetry; its rows are marked and not judged, so a half
-- minute's low rates raise no alarm. Rows written before hold false.
ALTER TABLE otlp_ai_features ADD COLUMN IF NOT EXISTS partial BOOLEAN NOT NULL DEFAULT false;
