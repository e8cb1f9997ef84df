-- End users: the distinct end users (enduser.id, or [identity] user_attribute) of each service
-- and minute, appended to the feature row. Rows written before hold null.
ALTER TABLE otlp_ai_features ADD COLUMN IF NOT EXISTS distinct_users INTEGER;
