//! Bad input: reported with its location, counted, dead-lettered; the job goes on.

use crate::common::{aiops, generate, read_rows, replay, summary_value};

#[test]
fn malformed_records_are_dead_lettered_with_their_location_and_the_rest_is_processed() {
    let dir = tempfile::tempdir().unwrap();
    let input = generate(dir.path(), &["--duration", "3m", "--format", "otlp-json"]);
    let traces = input.join("traces-0000.jsonl");
    let text = std::fs::read_to_string(&traces).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let good = lines.len();
    lines.insert(1, "this is not json".into());
    // A span that ends before it starts, in an otherwise valid request.
    let mut value: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
    let span = &mut value["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    let start: u64 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
    span["endTimeUnixNano"] = serde_json::Value::String((start - 1_000).to_string());
    lines[2] = value.to_string();
    std::fs::write(&traces, lines.join("\n") + "\n").unwrap();
    std::fs::write(input.join("traces-0001.xml"), "<spans/>").unwrap();
    let metrics = input.join("metrics-0000.jsonl");
    let mut metric_text = std::fs::read_to_string(&metrics).unwrap();
    metric_text.push_str("{\"resourceMetrics\": [{\"scopeMetrics\": 7}]}\n");
    std::fs::write(&metrics, metric_text).unwrap();

    let data = dir.path().join("data");
    let stdout = replay(&input, &data);
    // garbage line + unknown extension + bad metrics line = 3 whole records, 1 rejected span
    assert_eq!(summary_value(&stdout, "bad input"), 4, "{stdout}");
    let lines_of = |name: &str| {
        std::fs::read_to_string(input.join(name))
            .unwrap()
            .lines()
            .count() as u64
    };
    assert_eq!(
        summary_value(&stdout, "records read"),
        good as u64 + 2 + lines_of("metrics-0000.jsonl") - 1 + lines_of("logs-0000.jsonl")
    );
    let dead: Vec<serde_json::Value> = std::fs::read_dir(data.join("dead_letter"))
        .unwrap()
        .flat_map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let locations: Vec<String> = dead
        .iter()
        .map(|d| format!("{} | {}", d["location"], d["error"]))
        .collect();
    for (place, error) in [
        ("traces-0000.jsonl:2", "malformed otlp_json"),
        ("traces-0000.jsonl:3", "span 0: negative duration"),
        ("traces-0001.xml", "unknown encoding"),
        ("metrics-0000.jsonl:", "malformed"),
    ] {
        assert!(
            locations
                .iter()
                .any(|l| l.contains(place) && l.contains(error)),
            "no {place} / {error} in {locations:?}"
        );
    }
    let garbage = dead
        .iter()
        .find(|d| {
            d["location"]
                .as_str()
                .unwrap()
                .contains("traces-0000.jsonl:2 ")
        })
        .unwrap();
    assert_eq!(
        garbage["bytes_base64"], "dGhpcyBpcyBub3QganNvbg==",
        "original bytes are kept"
    );
    assert!(
        read_rows(&data).len() >= 8 * 3,
        "good records still became rows"
    );
}

#[test]
fn truncated_proto_file_is_reported_at_its_byte_offset() {
    let dir = tempfile::tempdir().unwrap();
    let input = generate(dir.path(), &["--duration", "2m"]);
    let traces = input.join("traces-0000.binpb");
    let mut bytes = std::fs::read(&traces).unwrap();
    let full = bytes.len();
    bytes.extend_from_slice(&[0, 0, 1, 0, 1, 2, 3]);
    std::fs::write(&traces, bytes).unwrap();
    let data = dir.path().join("data");
    let stdout = replay(&input, &data);
    assert_eq!(summary_value(&stdout, "bad input"), 1);
    let dead = std::fs::read_to_string(data.join("dead_letter/dead-w000.jsonl")).unwrap();
    assert!(
        dead.contains(&format!("traces-0000.binpb at byte {full}"))
            && dead.contains("truncated record of 256 bytes"),
        "{dead}"
    );
}

#[test]
fn configuration_mistakes_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aiops.toml");
    std::fs::write(&config, "[simulator]\nservics = 4\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "run".into(),
                "--config".into(),
                config.display().to_string(),
            ],
            "servics",
        ),
        (
            vec!["run".into(), "--input".into(), "/nonexistent/otlp".into()],
            "/nonexistent/otlp",
        ),
        (
            vec![
                "run".into(),
                "--timezone".into(),
                "Mars/Base".into(),
                "--duration".into(),
                "1m".into(),
            ],
            "Mars/Base",
        ),
        (
            vec!["run".into(), "--duration".into(), "soon".into()],
            "simulator.duration",
        ),
        (
            vec![
                "query".into(),
                "SELECT 1".into(),
                "--data-dir".into(),
                dir.path().display().to_string(),
            ],
            "no Parquet files",
        ),
    ];
    for (args, needle) in cases {
        let output = aiops()
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(
            stderr.contains(needle),
            "{args:?}: stderr lacks {needle:?}:\n{stderr}"
        );
    }
}
