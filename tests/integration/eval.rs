//! `aiops eval rca` end to end on a small dataset in the Nezha layout, written here: the
//! replay source, the pipeline and the ranking must blame the service whose inbound network
//! was slowed.

use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::common::run_ok;

const DAY_START: i64 = 1_674_950_400; // 2023-01-29T00:00:00Z
const PODS: [&str; 4] = [
    "ts-gateway-service-aaa-bbb",
    "ts-api-service-ccc-ddd",
    "ts-db-service-eee-fff",
    "ts-cache-service-ggg-hhh",
];

fn write_gz(path: &Path, text: &str) {
    let mut encoder = GzEncoder::new(std::fs::File::create(path).unwrap(), Compression::fast());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap();
}

/// The spans of one trace starting at `start_ns`: gateway → api → {db, cache}, each call as
/// the caller's client span and the callee's server span; `delay_ms` on the way into db.
fn trace(trace: usize, start_ns: i64, delay_ms: i64, jitter: i64) -> Vec<String> {
    let ms = 1_000_000;
    let id = |n: usize| format!("{:016x}", trace * 16 + n);
    let db = (20 + jitter) * ms;
    let to_db = db + (1 + delay_ms) * ms;
    let api = to_db + 8 * ms;
    let spans = [
        (1, "root".to_string(), 0, "/*", api + 6 * ms),
        (2, id(1), 0, "HTTP GET", api + 4 * ms),
        (3, id(2), 1, "/api/v1/api", api),
        (4, id(3), 1, "HTTP POST db", to_db),
        (5, id(4), 2, "/api/v1/db", db),
        (6, id(3), 1, "HTTP GET cache", 5 * ms),
        (7, id(6), 3, "/api/v1/cache", 4 * ms),
    ];
    spans
        .into_iter()
        .map(|(n, parent, pod, operation, duration)| {
            let begin = start_ns + n as i64 * 100_000;
            format!(
                "{:032x},{},{parent},{},{operation},{begin},{},{}",
                trace + 1,
                id(n),
                PODS[pod],
                begin + duration,
                duration / 1_000
            )
        })
        .collect()
}

/// 40 minutes from 08:00 with a network delay into db from 08:30:05.
fn dataset(root: &Path) {
    let day = root.join("nezha-trainticket").join("2023-01-29");
    std::fs::create_dir_all(day.join("trace")).unwrap();
    std::fs::create_dir_all(day.join("metric")).unwrap();
    let header =
        "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration";
    let mut metrics: Vec<String> = PODS.iter().map(|_| String::new()).collect();
    for minute in 8 * 60..8 * 60 + 40 {
        let minute_start = DAY_START + minute * 60;
        let mut lines = vec![header.to_string()];
        for number in 0..30 {
            let start_ns = (minute_start + 10 + number) * 1_000_000_000;
            let delay = if minute >= 8 * 60 + 30 { 80 } else { 0 };
            let trace_number = (minute * 100 + number) as usize;
            lines.extend(trace(trace_number, start_ns, delay, number % 5));
        }
        let next = minute + 1;
        let name = format!("{:02}_{:02}_trace.csv.gz", next / 60, next % 60);
        write_gz(&day.join("trace").join(name), &(lines.join("\n") + "\n"));
        for (pod, text) in metrics.iter_mut().enumerate() {
            let stamp = minute_start + 69;
            *text += &format!(
                "2023-01-29 x,{stamp},{},10,{},300,20,0,0,5000,6000,0,0,0,0,0,0,1,100,10,30,1000\n",
                PODS[pod],
                2.0 + (minute % 3) as f64 * 0.1
            );
        }
    }
    let header = "Time,TimeStamp,PodName,CpuUsage(m),CpuUsageRate(%),MemoryUsage(Mi),\
        MemoryUsageRate(%),SyscallRead,SyscallWrite,NetworkReceiveBytes,NetworkTransmitBytes,\
        PodClientLatencyP90(s),PodServerLatencyP90(s),PodClientLatencyP95(s),PodServerLatencyP95(s),\
        PodClientLatencyP99(s),PodServerLatencyP99(s),PodWorkload(Ops),PodSuccessRate(%),\
        NodeCpuUsageRate(%),NodeMemoryUsageRate(%),NodeNetworkReceiveBytes\n";
    for (pod, text) in PODS.iter().zip(&metrics) {
        write_gz(
            &day.join("metric").join(format!("{pod}_metric.csv.gz")),
            &(header.to_string() + text),
        );
    }
    std::fs::write(
        day.join("2023-01-29-fault_list.json"),
        r#"{"08": [{"inject_time": "2023-01-29 08:30:05", "inject_timestamp": "0",
            "inject_pod": "ts-db-service-eee-fff", "inject_type": "network_delay"}]}"#,
    )
    .unwrap();
}

#[test]
fn eval_rca_replays_the_nezha_layout_and_blames_the_delayed_service() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let out = dir.path().join("eval.json");
    let root = dir.path().display().to_string();
    let table = run_ok(&[
        "eval",
        "rca",
        "--dataset",
        "nezha-trainticket",
        "--data-root",
        &root,
        "--out",
        &out.display().to_string(),
        "-q",
    ]);
    assert!(
        table.contains("nezha-trainticket / all faults (1 cases)"),
        "{table}"
    );
    assert!(
        table.contains("MicroRCA"),
        "published rows are printed beside ours: {table}"
    );
    assert!(
        table.contains("nezha-trainticket / day 2023-01-29 (1 cases)"),
        "a table per day: {table}"
    );
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let outcome = &result["outcomes"][0];
    assert_eq!(outcome["case"]["service"], "ts-db-service");
    for method in ["baro", "pagerank", "combined"] {
        assert_eq!(outcome["ranks"][method], 1, "{method}: {outcome}");
    }
}
