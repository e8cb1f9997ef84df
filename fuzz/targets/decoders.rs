//! What the decoder targets share: one input to the decoder of the signal its first byte
//! picks, and log bodies on through the template miner.

use aiops_engine::features::templates::{mask, ServiceTemplates};
use aiops_engine::otlp::{decode_logs, decode_metrics, decode_spans, Decoding};
use aiops_engine::record::Encoding;

/// Decodes `data` after its first byte (0: traces, 1: metrics, 2: logs, modulo 3) in
/// `encoding`; must never panic.
pub fn decode(data: &[u8], encoding: Encoding, decoding: &Decoding) {
    let Some((choice, message)) = data.split_first() else {
        return;
    };
    match choice % 3 {
        0 => {
            let _ = decode_spans(message, encoding, decoding, &mut Vec::new());
        }
        1 => {
            let _ = decode_metrics(message, encoding, decoding, &mut Vec::new());
        }
        _ => {
            let mut logs = Vec::new();
            let _ = decode_logs(message, encoding, decoding, &mut logs);
            let mut lines: Vec<(String, u64)> = logs
                .iter()
                .map(|log| {
                    let mut masked = String::new();
                    mask(log.code.as_deref(), &log.body, &mut masked);
                    (masked, 1)
                })
                .collect();
            lines.sort();
            let _ = ServiceTemplates::default().mine(20, &lines);
        }
    }
}
