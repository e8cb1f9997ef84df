//! One worker, two workers and two processes produce identical feature rows.

use std::path::Path;
use std::process::Stdio;

use crate::common::{aiops, assert_ok, free_port, read_rows, run_ok, START};

fn args(data: &str) -> Vec<&str> {
    vec![
        "run",
        "--data-dir",
        data,
        "--start",
        START,
        "--duration",
        "20m",
        "--speed",
        "0",
        "--seed",
        "3",
        "--services",
        "12",
        "--topology",
        "trainticket",
        "-q",
    ]
}

fn run_cluster(data: &Path) {
    let hostfile = data.join("hosts.txt");
    std::fs::write(
        &hostfile,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
    )
    .unwrap();
    let data_text = data.display().to_string();
    let host_text = hostfile.display().to_string();
    let children: Vec<_> = (0..2)
        .map(|process| {
            let process = process.to_string();
            let mut all = args(&data_text);
            all.extend([
                "--processes",
                "2",
                "--process",
                &process,
                "--hostfile",
                &host_text,
            ]);
            aiops()
                .args(&all)
                .env("RUST_LOG", "error")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("cluster process");
        assert_ok(&output, &["run", "--processes", "2"]);
    }
}

#[test]
fn one_worker_two_workers_and_two_processes_agree() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    let cluster = dir.path().join("cluster");
    std::fs::create_dir_all(&cluster).unwrap();
    run_ok(&args(&one.display().to_string()));
    let two_text = two.display().to_string();
    let mut with_workers = args(&two_text);
    with_workers.extend(["-w", "2"]);
    run_ok(&with_workers);
    run_cluster(&cluster);

    let reference = read_rows(&one);
    assert!(reference.len() >= 12 * 20, "{} rows", reference.len());
    assert_eq!(read_rows(&two), reference, "-w 2 differs from one worker");
    assert_eq!(
        read_rows(&cluster),
        reference,
        "two processes differ from one worker"
    );
    let files = crate::common::parquet_files(&cluster);
    assert!(
        files.iter().any(|f| f.to_string_lossy().contains("-w001-")),
        "both processes wrote rows: {files:?}"
    );
}
