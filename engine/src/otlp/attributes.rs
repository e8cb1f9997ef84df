//! Reading OTLP attribute lists: the few keys the features need, under old and new names.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::record::{ResourceInfo, UNKNOWN_SERVICE};

/// Metric point attributes kept on [`crate::record::MetricPoint`]; everything else is dropped.
pub const KEPT_POINT_ATTRIBUTES: &[&str] = &[
    "direction",
    "disk.io.direction",
    "network.io.direction",
    "state",
    "system.memory.state",
    "cpu.mode",
    "device",
    "system.device",
];

/// A string view of an attribute value: strings as they are, integers in decimal.
pub fn value_text(kv: &KeyValue) -> Option<String> {
    match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(text) => Some(text.clone()),
        Value::IntValue(number) => Some(number.to_string()),
        Value::BoolValue(flag) => Some(flag.to_string()),
        Value::DoubleValue(number) => Some(number.to_string()),
        _ => None,
    }
}

/// An integer attribute value, also accepting a decimal string.
pub fn value_int(kv: &KeyValue) -> Option<i64> {
    match kv.value.as_ref()?.value.as_ref()? {
        Value::IntValue(number) => Some(*number),
        Value::StringValue(text) => text.parse().ok(),
        _ => None,
    }
}

/// Extracts [`ResourceInfo`] from an OTLP resource; a missing `service.name` is
/// [`UNKNOWN_SERVICE`].
pub fn resource_info(resource: Option<&Resource>) -> ResourceInfo {
    let mut info = ResourceInfo::default();
    let mut host = None;
    for kv in resource
        .map(|r| r.attributes.as_slice())
        .unwrap_or_default()
    {
        let slot = match kv.key.as_str() {
            "service.name" => {
                info.service = value_text(kv).unwrap_or_default();
                continue;
            }
            "service.version" => &mut info.service_version,
            "deployment.environment.name" => &mut info.environment,
            "deployment.environment" if info.environment.is_none() => &mut info.environment,
            "cloud.region" => &mut info.region,
            "k8s.pod.name" => &mut info.pod,
            "service.instance.id" => &mut info.instance,
            "host.name" => &mut host,
            _ => continue,
        };
        *slot = value_text(kv);
    }
    if info.service.is_empty() {
        info.service = UNKNOWN_SERVICE.to_string();
    }
    if info.instance.is_none() {
        info.instance = host;
    }
    info
}
