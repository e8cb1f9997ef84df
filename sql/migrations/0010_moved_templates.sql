-- Log evidence a person can read: the log templates whose line counts moved most against their
-- baseline in each service's minute (at most three, largest move first, as
-- '"template" (n lines, e expected)'), appended to the feature row. Rows written before and
-- minutes where nothing moved hold null.
ALTER TABLE otlp_ai_features ADD COLUMN IF NOT EXISTS moved_templates TEXT[];
