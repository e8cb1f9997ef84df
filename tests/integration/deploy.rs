//! The deployment files agree with the binary: the image's configuration loads, the Kubernetes
//! ConfigMap carries the same file, the StatefulSet's start script writes the hostfile the
//! cluster mode reads with the pod ordinal as process index, and every command the compose file
//! and the manifests run is one the binary accepts. (tests/run.sh validates the files
//! themselves with `docker-compose config` and `kubernetes-validate`.)

use std::path::PathBuf;
use std::process::Command;

use aiops_engine::config::{JobConfig, SourceKind};

use crate::common::aiops;

fn deploy(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy(path)).unwrap()
}

#[test]
fn the_image_configuration_loads_and_the_config_map_carries_it() {
    let config = JobConfig::load(Some(&deploy("aiops.toml")), Vec::new()).unwrap();
    assert_eq!(config.source.kind, SourceKind::Kafka);
    assert_eq!(config.kafka.brokers, "kafka:9092");
    assert_eq!(config.metrics.addr.as_deref(), Some("0.0.0.0:9464"));
    let map = read("k8s/configmap.yaml");
    let embedded: Vec<&str> = map
        .lines()
        .skip_while(|l| !l.contains("aiops.toml: |"))
        .skip(1)
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    assert_eq!(
        embedded.join("\n").trim_end(),
        read("aiops.toml").trim_end()
    );
}

/// The `args` script of the StatefulSet's container.
fn start_script() -> String {
    let manifest = read("k8s/statefulset.yaml");
    let lines: Vec<&str> = manifest.lines().collect();
    let start = lines.iter().position(|l| l.trim() == "- |").unwrap() + 1;
    let indent = lines[start].len() - lines[start].trim_start().len();
    lines[start..]
        .iter()
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent)
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_stateful_set_gives_each_pod_its_ordinal_and_every_peer_in_the_hostfile() {
    let dir = tempfile::tempdir().unwrap();
    // `aiops` stands in as a function that prints its arguments and the hostfile.
    let hosts = dir.path().join("hosts").display().to_string();
    let script = start_script()
        .replace("exec aiops", "aiops")
        .replace("/tmp/hostfile", &hosts);
    let script = format!("aiops() {{ echo \"$@\"; cat {hosts}; }}\n{script}");
    let output = Command::new("sh")
        .args(["-c", &script])
        .env("PROCESSES", "3")
        .env("WORKERS", "2")
        .env("NAMESPACE", "obs")
        .env("HOSTNAME", "aiops-2")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    let mut lines = printed.lines();
    let args = lines.next().unwrap();
    assert!(
        args.contains("--processes 3 --process 2 --hostfile"),
        "{args}"
    );
    assert!(
        args.starts_with("run --config /etc/aiops/aiops.toml -q -w 2"),
        "{args}"
    );
    let hosts: Vec<&str> = lines.collect();
    assert_eq!(
        hosts,
        [
            "aiops-0.aiops-peers.obs.svc.cluster.local:2101",
            "aiops-1.aiops-peers.obs.svc.cluster.local:2101",
            "aiops-2.aiops-peers.obs.svc.cluster.local:2101",
        ]
    );
}

/// The `command:` lists of the compose file that run the aiops image.
fn compose_commands() -> Vec<Vec<String>> {
    read("docker-compose.yml")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("command: "))
        .filter_map(|list| serde_json::from_str::<Vec<String>>(list).ok())
        .filter(|args| !args.iter().any(|a| a.starts_with("--config=")))
        .collect()
}

#[test]
fn every_command_the_deployment_runs_is_one_the_binary_accepts() {
    let mut commands = compose_commands();
    assert!(commands.len() >= 4, "{commands:?}");
    commands.push(vec!["migrate".into()]);
    for args in commands {
        let output = aiops().args(&args).arg("--help").output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "aiops {} --help: {stderr}",
            args.join(" ")
        );
    }
}
