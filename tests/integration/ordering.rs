//! Event time: disorder within the bound changes nothing; later records are counted and
//! kept in the late side output, never lost silently.

use std::path::Path;

use aiops_engine::otlp::{decode_spans, Decoding};
use aiops_engine::record::Encoding;

use crate::common::{generate, read_rows, replay, summary_value};

fn read_prefixed(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let length = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        records.push(bytes[at + 4..at + 4 + length].to_vec());
        at += 4 + length;
    }
    records
}

fn write_prefixed(path: &Path, records: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for record in records {
        bytes.extend_from_slice(&(record.len() as u32).to_be_bytes());
        bytes.extend_from_slice(record);
    }
    std::fs::write(path, bytes).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

#[test]
fn disorder_within_the_bound_gives_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let ordered = generate(dir.path(), &["--duration", "12m", "--format", "otlp-json"]);
    let shuffled = dir.path().join("shuffled");
    copy_dir(&ordered, &shuffled);
    // Each line is one simulated second: swapping neighbours disorders by up to two seconds,
    // inside the default five-second bound.
    let text = std::fs::read_to_string(shuffled.join("traces-0000.jsonl")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks_mut(2) {
        pair.reverse();
    }
    std::fs::write(shuffled.join("traces-0000.jsonl"), lines.join("\n") + "\n").unwrap();

    let in_order = replay(&ordered, &dir.path().join("a"));
    let out_of_order = replay(&shuffled, &dir.path().join("b"));
    assert_eq!(summary_value(&out_of_order, "late records"), 0);
    assert_eq!(
        summary_value(&in_order, "spans"),
        summary_value(&out_of_order, "spans")
    );
    let rows = read_rows(&dir.path().join("a"));
    assert!(rows.len() >= 8 * 12);
    assert_eq!(rows, read_rows(&dir.path().join("b")));
}

#[test]
fn records_later_than_the_bound_are_counted_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let input = generate(dir.path(), &["--duration", "6m"]);
    let traces = input.join("traces-0000.binpb");
    let mut records = read_prefixed(&traces);
    let total_spans: usize = records.iter().map(|r| count_spans(r)).sum();
    // The first three seconds arrive after everything else: their minute has long closed.
    let early: Vec<Vec<u8>> = records.drain(..3).collect();
    let late_spans: usize = early.iter().map(|r| count_spans(r)).sum();
    records.extend(early);
    write_prefixed(&traces, &records);

    let data = dir.path().join("data");
    let stdout = replay(&input, &data);
    assert!(late_spans > 0);
    assert_eq!(summary_value(&stdout, "late records"), late_spans as u64);
    assert_eq!(
        summary_value(&stdout, "spans"),
        (total_spans - late_spans) as u64
    );
    let late_file = std::fs::read_to_string(data.join("late/late-w000.jsonl")).unwrap();
    assert_eq!(late_file.lines().count(), late_spans);
    let first: serde_json::Value = serde_json::from_str(late_file.lines().next().unwrap()).unwrap();
    assert!(
        first["location"]
            .as_str()
            .unwrap()
            .contains("traces-0000.binpb at byte"),
        "{first}"
    );
    assert!(
        first["record"]["trace_id"].is_array(),
        "the whole span is kept: {first}"
    );
}

fn count_spans(bytes: &[u8]) -> usize {
    let mut spans = Vec::new();
    decode_spans(bytes, Encoding::OtlpProto, &Decoding::default(), &mut spans).unwrap();
    spans.len()
}
