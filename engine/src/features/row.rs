//! The feature row: one per (service, minute), the unit every sink writes.
//!
//! Field order and meaning follow `schemas/feature_row.json`; a test checks the two agree.

/// One row of the feature table `otlp_ai_features`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureRow {
    /// Window start (the minute), microseconds since the Unix epoch, UTC.
    pub time_us: i64,
    /// Service name.
    pub service_name: String,
    /// Most frequent request operation of the minute.
    pub operation: Option<String>,
    /// Most frequent HTTP status of the minute's requests.
    pub http_status_code: Option<i32>,
    /// Requests per second over 1, 5, 15 and 60 minutes ending with this one.
    pub request_rate_1m: Option<f64>,
    /// See `request_rate_1m`.
    pub request_rate_5m: Option<f64>,
    /// See `request_rate_1m`.
    pub request_rate_15m: Option<f64>,
    /// See `request_rate_1m`.
    pub request_rate_1h: Option<f64>,
    /// Failed / all requests over 1 minute.
    pub error_rate_1m: Option<f64>,
    /// Failed / all requests over 5 minutes.
    pub error_rate_5m: Option<f64>,
    /// Request latency quantiles over 1 minute, ms.
    pub p50_latency_1m: Option<f64>,
    /// See `p50_latency_1m`.
    pub p95_latency_1m: Option<f64>,
    /// See `p50_latency_1m`.
    pub p99_latency_1m: Option<f64>,
    /// Request latency quantiles over 5 minutes, ms.
    pub p50_latency_5m: Option<f64>,
    /// See `p50_latency_5m`.
    pub p95_latency_5m: Option<f64>,
    /// See `p50_latency_5m`.
    pub p99_latency_5m: Option<f64>,
    /// Local hour 0..=23.
    pub hour_of_day: i32,
    /// 1..=7, Monday = 1.
    pub day_of_week: i32,
    /// 1..=31.
    pub day_of_month: i32,
    /// Saturday or Sunday.
    pub is_weekend: bool,
    /// 09:00..18:00 local.
    pub is_business_hour: bool,
    /// 10:00..12:00 or 14:00..16:00 local.
    pub is_peak_hour: bool,
    /// Services that called this one in the minute (dependency graph), sorted.
    pub upstream_services: Option<Vec<String>>,
    /// Services and virtual nodes this one called in the minute, sorted.
    pub downstream_services: Option<Vec<String>>,
    /// Number of distinct callers and callees in the minute.
    pub dependency_count: Option<i32>,
    /// CPU utilization, percent.
    pub cpu_usage: Option<f64>,
    /// Memory utilization, percent.
    pub memory_usage: Option<f64>,
    /// Disk reads, MB/s.
    pub disk_io_read: Option<f64>,
    /// Disk writes, MB/s.
    pub disk_io_write: Option<f64>,
    /// Network received, MB/s.
    pub network_in: Option<f64>,
    /// Network transmitted, MB/s.
    pub network_out: Option<f64>,
    /// End-user id, where a single user dominates (not derived yet).
    pub user_id: Option<String>,
    /// Tenant id (not derived yet).
    pub tenant_id: Option<String>,
    /// `cloud.region`.
    pub region: Option<String>,
    /// `service.version`.
    pub deployment_version: Option<String>,
    /// Whether the detector flags the row (null while its features lack history).
    pub is_anomaly: Option<bool>,
    /// The feature that moved most, when anomalous.
    pub anomaly_type: Option<String>,
    /// Anomaly score 0..1, 0.5 at the detection threshold.
    pub anomaly_score: Option<f64>,
    /// Root cause of the incident naming this service in this minute.
    pub root_cause: Option<String>,
    /// The incident naming this service in this minute.
    pub incident_id: Option<String>,
    /// When the row was produced, microseconds since the epoch.
    pub created_at_us: i64,
}
