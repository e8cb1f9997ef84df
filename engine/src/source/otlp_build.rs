//! Small constructors of OTLP messages, for sources that synthesise telemetry: the simulator,
//! and dataset replays that turn other layouts into OTLP (the benchmark crate's).

use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, Gauge, Metric, NumberDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// A string attribute.
pub fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

/// An integer attribute.
pub fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// The resource of one pod of a simulated service.
pub fn resource(service: &str, pod: usize, region: &str) -> Resource {
    let pod_name = pod_name(service, pod);
    Resource {
        attributes: vec![
            string("service.name", service),
            string("service.version", "1.4.2"),
            string("service.instance.id", &pod_name),
            string("deployment.environment.name", "production"),
            string("cloud.region", region),
            string("k8s.pod.name", &pod_name),
        ],
        ..Default::default()
    }
}

/// The pod name of pod number `pod` of `service`.
pub fn pod_name(service: &str, pod: usize) -> String {
    format!("{service}-{pod}")
}

/// The instrumentation scope the simulator reports as.
pub fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "aiops-simulator".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        ..Default::default()
    })
}

/// A gauge with one double point.
pub fn gauge(
    name: &str,
    unit: &str,
    time_ns: u64,
    value: f64,
    attributes: Vec<KeyValue>,
) -> Metric {
    Metric {
        name: name.to_string(),
        unit: unit.to_string(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                attributes,
                time_unix_nano: time_ns,
                value: Some(number_data_point::Value::AsDouble(value)),
                ..Default::default()
            }],
        })),
        ..Default::default()
    }
}
