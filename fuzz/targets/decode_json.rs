//! Fuzz target: OTLP/JSON requests into spans, metric points and log records (the decoder every
//! source shares), and log bodies through the template miner. The first byte picks the signal;
//! the rest is the message. Must never panic.

use aiops_engine::features::templates::{mask, ServiceTemplates};
use aiops_engine::otlp::{decode_logs, decode_metrics, decode_spans, Decoding};
use aiops_engine::record::Encoding;

fn main() {
    let decoding = Decoding::default();
    afl::fuzz!(|data: &[u8]| {
        let Some((choice, message)) = data.split_first() else {
            return;
        };
        match choice % 3 {
            0 => {
                let _ = decode_spans(message, Encoding::OtlpJson, &decoding, &mut Vec::new());
            }
            1 => {
                let _ = decode_metrics(message, Encoding::OtlpJson, &decoding, &mut Vec::new());
            }
            _ => {
                let mut logs = Vec::new();
                let _ = decode_logs(message, Encoding::OtlpJson, &decoding, &mut logs);
                let mut lines: Vec<(String, u64)> = logs
                    .iter()
                    .map(|log| {
                        let mut masked = String::new();
                        mask(&log.body, &mut masked);
                        (masked, 1)
                    })
                    .collect();
                lines.sort();
                let _ = ServiceTemplates::default().mine(20, &lines);
            }
        }
    });
}
