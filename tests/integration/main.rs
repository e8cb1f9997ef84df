//! Integration tests of the `aiops` binary: one test binary (as ripgrep does), one module per
//! concern. They run the real CLI on real files; nothing is mocked.

#![allow(clippy::unwrap_used)] // tests may panic: a panic is a failed test

mod alerts;
mod backfill;
mod common;
mod correctness;
mod dashboards;
mod deploy;
mod eval;
mod graph;
mod input_faults;
mod kafka;
mod lifecycle;
mod logs;
mod models;
mod notebooks;
mod ordering;
mod outages;
mod postgres_sink;
mod published;
mod receivers;
mod retention;
mod sampling;
mod schema;
mod semconv;
mod sizing;
mod tls;
mod ui;
mod workers;
