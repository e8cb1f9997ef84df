-- How far each service-minute's mix of log templates moved from the service's baseline, in
-- Poisson deviations (engine/src/features/templates.rs, mix_shift): a log statement that stops
-- or starts being reached. Scored like the other log features. Rows written before, and
-- services without logs, hold null.
ALTER TABLE otlp_ai_features ADD COLUMN IF NOT EXISTS template_shift DOUBLE PRECISION;
