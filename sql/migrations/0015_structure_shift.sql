-- Trace structure per service-minute (engine/src/features/structure.rs): how far the calls
-- each operation makes per execution moved from the service's last quarter hour, in Poisson
-- deviations, and the calls that moved most ("parent → child" (n calls, e expected)). A
-- method that throws or returns early skips its next calls or reaches an error handler.
-- Root-cause evidence, not a detection input. Rows written before hold null.
ALTER TABLE otlp_ai_features ADD COLUMN IF NOT EXISTS structure_shift DOUBLE PRECISION;
ALTER TABLE otlp_ai_features ADD COLUMN IF NOT EXISTS moved_calls TEXT[];
