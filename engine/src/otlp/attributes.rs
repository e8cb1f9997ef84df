//! Reading OTLP attribute lists: the few keys the features need, under old and new names, and
//! the service a resource belongs to when it does not say (`service.name` is missing from most
//! infrastructure receivers' output).

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::record::{service_key, ResourceInfo, UNKNOWN_SERVICE};

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
    "system.cpu.state",
    "cpu",
    "cpu.logical_number",
    "operation",
    "http.response.status_code",
    "http.status_code",
    "rpc.grpc.status_code",
];

/// Resource attributes that name a Kubernetes workload, in the order they are preferred.
const WORKLOADS: &[&str] = &[
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.job.name",
    "k8s.cronjob.name",
];

/// The built-in pod-name rule: a Deployment's pods are `<name>-<ReplicaSet hash>-<suffix>`, a
/// DaemonSet's and Job's `<name>-<suffix>`, a StatefulSet's `<name>-<ordinal>`; hash and
/// suffix use Kubernetes' name alphabet (no vowels, no 0, 1 or 3).
const POD_NAME_RULE: &str =
    r"^(.+?)(?:-[bcdfghjklmnpqrstvwxz2456789]{6,10})?-(?:[bcdfghjklmnpqrstvwxz2456789]{5}|[0-9]+)$";

/// How a resource without `service.name` is named: by its Kubernetes workload, else by its pod
/// name through a pattern (first capture group), else by `container.name`.
#[derive(Debug, Clone)]
pub struct ServiceNaming {
    /// Always `Some`: the built-in rule compiles (a test checks), a configured one is checked
    /// when the configuration loads.
    pod_pattern: Option<regex::Regex>,
}

impl Default for ServiceNaming {
    fn default() -> Self {
        ServiceNaming {
            pod_pattern: regex::Regex::new(POD_NAME_RULE).ok(),
        }
    }
}

impl ServiceNaming {
    /// With `pattern` instead of the built-in pod-name rule (see `[identity]`).
    pub fn with_pod_pattern(pattern: Option<regex::Regex>) -> Self {
        match pattern {
            Some(pattern) => ServiceNaming {
                pod_pattern: Some(pattern),
            },
            None => ServiceNaming::default(),
        }
    }

    /// The service of a pod: the pattern's first group, or the whole name.
    pub fn from_pod<'a>(&self, pod: &'a str) -> &'a str {
        self.pod_pattern
            .as_ref()
            .and_then(|pattern| pattern.captures(pod))
            .and_then(|c| c.get(1))
            .map_or(pod, |m| m.as_str())
    }
}

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

/// A numeric attribute value (integer, double or decimal string).
pub fn value_number(kv: &KeyValue) -> Option<f64> {
    match kv.value.as_ref()?.value.as_ref()? {
        Value::IntValue(number) => Some(*number as f64),
        Value::DoubleValue(number) => Some(*number),
        Value::StringValue(text) => text.parse().ok(),
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

/// Extracts [`ResourceInfo`] from an OTLP resource. A missing `service.name` is named by
/// `naming`, and is [`UNKNOWN_SERVICE`] when nothing names the resource; a `service.namespace`
/// prefixes the name (`shop/cart`), and the environment completes the [`service_key`].
pub fn resource_info(resource: Option<&Resource>, naming: &ServiceNaming) -> ResourceInfo {
    let attributes = resource
        .map(|r| r.attributes.as_slice())
        .unwrap_or_default();
    let mut info = ResourceInfo::default();
    let (mut host, mut namespace) = (None, None);
    for kv in attributes {
        let slot = match kv.key.as_str() {
            "service.name" => {
                info.service = value_text(kv).unwrap_or_default();
                continue;
            }
            "service.namespace" => &mut namespace,
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
        info.service = unnamed_service(attributes, info.pod.as_deref(), naming);
    }
    // A namespaced service is distinct from a same-named one elsewhere, and one environment's
    // copy from another's.
    if let Some(namespace) = namespace.filter(|n| !n.is_empty()) {
        info.service = format!("{namespace}/{}", info.service);
    }
    info.service = service_key(
        &info.service,
        info.environment.as_deref().unwrap_or_default(),
    );
    if info.instance.is_none() {
        info.instance = host;
    }
    info
}

/// The service of a resource without `service.name`.
fn unnamed_service(attributes: &[KeyValue], pod: Option<&str>, naming: &ServiceNaming) -> String {
    let text = |key: &str| {
        let kv = attributes.iter().find(|kv| kv.key == key)?;
        value_text(kv).filter(|v| !v.is_empty())
    };
    WORKLOADS
        .iter()
        .find_map(|key| text(key))
        .or_else(|| pod.map(|pod| naming.from_pod(pod).to_string()))
        .or_else(|| text("container.name"))
        .unwrap_or_else(|| UNKNOWN_SERVICE.to_string())
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::AnyValue;

    use super::*;

    fn resource(attributes: &[(&str, &str)]) -> Resource {
        let kv = |(key, value): &(&str, &str)| KeyValue {
            key: key.to_string(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(value.to_string())),
            }),
            ..Default::default()
        };
        Resource {
            attributes: attributes.iter().map(kv).collect(),
            ..Default::default()
        }
    }

    fn service(attributes: &[(&str, &str)], naming: &ServiceNaming) -> String {
        resource_info(Some(&resource(attributes)), naming).service
    }

    #[test]
    fn pods_of_deployments_statefulsets_and_daemonsets_name_their_workload() {
        let naming = ServiceNaming::default();
        assert!(naming.pod_pattern.is_some(), "the built-in rule compiles");
        for (pod, expected) in [
            ("cart-7d9f8b6c5-x2k4p", "cart"),
            ("api-v2-5c7d8f9b4d-q8zrw", "api-v2"),
            ("redis-0", "redis"),
            ("kafka-broker-12", "kafka-broker"),
            ("fluent-bit-8xk2z", "fluent-bit"),
            ("standalone", "standalone"),
        ] {
            assert_eq!(naming.from_pod(pod), expected, "{pod}");
        }
    }

    #[test]
    fn service_name_then_workload_then_pod_then_container() {
        let naming = ServiceNaming::default();
        let pod = ("k8s.pod.name", "cart-7d9f8b6c5-x2k4p");
        let deployment = ("k8s.deployment.name", "cart-deploy");
        assert_eq!(
            service(&[("service.name", "shop"), pod, deployment], &naming),
            "shop"
        );
        assert_eq!(service(&[pod, deployment], &naming), "cart-deploy");
        assert_eq!(service(&[pod], &naming), "cart");
        assert_eq!(service(&[("container.name", "db")], &naming), "db");
        assert_eq!(
            service(&[("host.name", "node-1")], &naming),
            UNKNOWN_SERVICE
        );
        let namespaced = [("service.name", "cart"), ("service.namespace", "shop")];
        assert_eq!(service(&namespaced, &naming), "shop/cart");
        assert_eq!(
            service(&[("service.namespace", "shop"), pod], &naming),
            "shop/cart"
        );
        let prod = [
            ("service.name", "cart"),
            ("deployment.environment.name", "prod"),
        ];
        let staging = [
            ("service.name", "cart"),
            ("deployment.environment", "staging"),
        ];
        assert_eq!(service(&prod, &naming), service_key("cart", "prod"));
        assert_eq!(service(&staging, &naming), service_key("cart", "staging"));
        let both = [("deployment.environment", "old"), prod[0], prod[1]];
        assert_eq!(service(&both, &naming), service_key("cart", "prod"));
        let custom = regex::Regex::new(r"^prod-(.+)-[0-9]+$").unwrap();
        let naming = ServiceNaming::with_pod_pattern(Some(custom));
        assert_eq!(service(&[("k8s.pod.name", "prod-cart-3")], &naming), "cart");
        assert_eq!(service(&[("k8s.pod.name", "cart")], &naming), "cart");
    }
}
