//! Job configuration: typed, layered, strict.
//!
//! Defaults live in the checked-in `engine/config/default.toml`; a user's file overrides them
//! key by key, then `AIOPS_<SECTION>__<KEY>` environment variables override both. Unknown
//! keys anywhere are errors that name the key, so a typo never silently falls back to a
//! default; a value of the wrong kind (an unknown `rca.method`, a word where a number
//! belongs) is an error naming the key, the value and what is allowed.
//!
//! This is a leaf of the crate: every stage reads its own section from here, and the
//! sections import nothing but the other leaves. Sections, in the order data flows:
//! [`input`] (`[source]`, `[kafka]`, `[watermark]`), [`simulator`], [`analysis`]
//! (`[features]`, `[graph]`, `[detection]`, `[models]`, `[rca]`) and [`output`] (`[sink]`,
//! `[postgres]`, `[metrics]`).

pub mod analysis;
pub mod input;
pub mod output;
pub mod simulator;
mod values;

use std::path::Path;

use serde::Deserialize;

pub use analysis::{
    Combine, DetectionConfig, FeatureConfig, GraphConfig, ModelsConfig, RcaConfig, RcaMethod,
};
pub use input::{
    IdentityConfig, KafkaConfig, KafkaTopic, ReceiverConfig, SourceConfig, SourceKind, StartOffset,
    WatermarkConfig,
};
pub use output::{AlertsConfig, MetricsConfig, PostgresConfig, SinkConfig};
pub use simulator::{FaultKind, FaultSpec, Shape, SimConfig};

use crate::error::{Error, Result};

/// The checked-in defaults.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// The whole job configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// `[source]`.
    pub source: SourceConfig,
    /// `[receiver]`.
    pub receiver: ReceiverConfig,
    /// `[identity]`.
    pub identity: IdentityConfig,
    /// `[simulator]`.
    pub simulator: SimConfig,
    /// `[kafka]`.
    pub kafka: KafkaConfig,
    /// `[watermark]`.
    pub watermark: WatermarkConfig,
    /// `[features]`.
    pub features: FeatureConfig,
    /// `[graph]`.
    pub graph: GraphConfig,
    /// `[detection]`.
    pub detection: DetectionConfig,
    /// `[rca]`.
    pub rca: RcaConfig,
    /// `[models]`.
    pub models: ModelsConfig,
    /// `[sink]`.
    pub sink: SinkConfig,
    /// `[postgres]`.
    pub postgres: PostgresConfig,
    /// `[metrics]`.
    pub metrics: MetricsConfig,
    /// `[alerts]`.
    pub alerts: AlertsConfig,
}

fn merge(base: &mut toml::Value, overlay: toml::Value) {
    match (base, overlay) {
        (toml::Value::Table(base), toml::Value::Table(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

fn parse_toml(text: &str, origin: &str) -> Result<toml::Value> {
    toml::from_str(text).map_err(|e| Error::Config(format!("{origin}: {e}")))
}

/// A scalar from an environment variable: a TOML literal if it parses as one, else a string.
fn env_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

impl JobConfig {
    /// Defaults, then `file` (if any), then the given `AIOPS_*` environment variables.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<JobConfig> {
        let mut value = parse_toml(DEFAULT_TOML, "built-in defaults")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            merge(&mut value, parse_toml(&text, &path.display().to_string())?);
        }
        for (name, text) in env {
            let Some(rest) = name.strip_prefix("AIOPS_") else {
                continue;
            };
            let Some((section, key)) = rest.split_once("__") else {
                continue;
            };
            let mut overlay = toml::Table::new();
            let mut inner = toml::Table::new();
            inner.insert(key.to_lowercase(), env_value(&text));
            overlay.insert(section.to_lowercase(), toml::Value::Table(inner));
            merge(&mut value, toml::Value::Table(overlay));
        }
        let config: JobConfig = serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e.path().to_string();
            Error::Config(format!("{key}: {}", e.into_inner()))
        })?;
        config.features.validate()?;
        config.identity.pod_pattern()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order_and_unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("aiops.toml");
        std::fs::write(&file, "[simulator]\nseed = 7\nservices = 5\n").unwrap();
        let env = vec![
            ("AIOPS_SIMULATOR__SERVICES".to_string(), "9".to_string()),
            (
                "AIOPS_FEATURES__TIMEZONE".to_string(),
                "Europe/Berlin".to_string(),
            ),
        ];
        let config = JobConfig::load(Some(&file), env).unwrap();
        assert_eq!((config.simulator.seed, config.simulator.services), (7, 9));
        assert_eq!(config.features.timezone, "Europe/Berlin");
        assert_eq!(config.sink.flush_interval_ms, 5000);

        std::fs::write(&file, "[simulator]\nsead = 7\n").unwrap();
        let error = JobConfig::load(Some(&file), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(error.contains("sead"), "{error}");
        let bad_zone = vec![(
            "AIOPS_FEATURES__TIMEZONE".to_string(),
            "Mars/Olympus".to_string(),
        )];
        assert!(JobConfig::load(None, bad_zone)
            .unwrap_err()
            .to_string()
            .contains("Mars/Olympus"));
    }

    #[test]
    fn empty_strings_are_absent_and_bad_values_name_key_value_and_choices() {
        let env = |key: &str, value: &str| vec![(key.to_string(), value.to_string())];
        let defaults = JobConfig::load(None, Vec::new()).unwrap();
        assert_eq!(defaults.postgres.url, None);
        assert_eq!(defaults.models.dir, None);
        assert_eq!(defaults.simulator.duration, None);
        assert_eq!(defaults.kafka.alerts_topic.as_deref(), Some("aiops_alerts"));
        assert_eq!(defaults.rca.method, RcaMethod::Combined);
        let url = "postgres://db/aiops";
        let set = JobConfig::load(None, env("AIOPS_POSTGRES__URL", url)).unwrap();
        assert_eq!(set.postgres.url.as_deref(), Some(url));
        let off = JobConfig::load(None, env("AIOPS_KAFKA__ALERTS_TOPIC", "")).unwrap();
        assert_eq!(off.kafka.alerts_topic, None);

        let error = JobConfig::load(None, env("AIOPS_RCA__METHOD", "magic"))
            .unwrap_err()
            .to_string();
        for needle in ["rca.method", "magic", "combined", "pagerank", "baro", "gnn"] {
            assert!(error.contains(needle), "{needle} missing from: {error}");
        }
        let error = JobConfig::load(None, env("AIOPS_MODELS__COMBINE", "sum"))
            .unwrap_err()
            .to_string();
        for needle in ["models.combine", "sum", "mean", "max", "model"] {
            assert!(error.contains(needle), "{needle} missing from: {error}");
        }
        let error = JobConfig::load(None, env("AIOPS_DETECTION__THRESHOLD", "high"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("detection.threshold"), "{error}");
    }

    #[test]
    fn a_pod_name_pattern_must_compile_and_capture_the_service() {
        let env = |value: &str| vec![("AIOPS_IDENTITY__POD_NAME_PATTERN".into(), value.into())];
        let defaults = JobConfig::load(None, Vec::new()).unwrap();
        assert!(defaults.identity.pod_pattern().unwrap().is_none());
        let set = JobConfig::load(None, env("^prod-(.+)$")).unwrap();
        assert!(set.identity.pod_pattern().unwrap().is_some());
        for (bad, reason) in [("^(cart", "unclosed group"), ("^cart-.+$", "capture group")] {
            let error = JobConfig::load(None, env(bad)).unwrap_err().to_string();
            assert!(error.contains("identity.pod_name_pattern"), "{error}");
            assert!(error.contains(reason), "{reason} missing from: {error}");
        }
    }

    #[test]
    fn defaults_parse() {
        assert_eq!(
            JobConfig::load(None, Vec::new()).unwrap().source.kind,
            SourceKind::Simulator
        );
    }
}
