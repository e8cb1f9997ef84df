-- Service identity, native storage: the feature table and its hourly rollup are keyed by
-- (service_name, environment, time). Existing rows get '' (written without environments).
-- Changing the key of the partitioned table changes it on every partition.
ALTER TABLE otlp_ai_features ADD COLUMN IF NOT EXISTS environment TEXT NOT NULL DEFAULT '';
ALTER TABLE otlp_ai_features DROP CONSTRAINT IF EXISTS otlp_ai_features_pkey;
ALTER TABLE otlp_ai_features ADD CONSTRAINT otlp_ai_features_pkey
    PRIMARY KEY (service_name, environment, time);

ALTER TABLE otlp_features_1h ADD COLUMN IF NOT EXISTS environment TEXT NOT NULL DEFAULT '';
ALTER TABLE otlp_features_1h DROP CONSTRAINT IF EXISTS otlp_features_1h_pkey;
ALTER TABLE otlp_features_1h ADD CONSTRAINT otlp_features_1h_pkey
    PRIMARY KEY (service_name, environment, bucket);
