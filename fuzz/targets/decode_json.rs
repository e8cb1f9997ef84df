//! Fuzz target: OTLP/JSON requests into spans and metric points (the decoder every source
//! shares). The first byte picks the signal; the rest is the message. Must never panic.

use aiops_engine::otlp::{decode_metrics, decode_spans, Decoding};
use aiops_engine::record::Encoding;

fn main() {
    let decoding = Decoding::default();
    afl::fuzz!(|data: &[u8]| {
        let Some((choice, message)) = data.split_first() else {
            return;
        };
        if choice & 1 == 0 {
            let _ = decode_spans(message, Encoding::OtlpJson, &decoding, &mut Vec::new());
        } else {
            let _ = decode_metrics(message, Encoding::OtlpJson, &decoding, &mut Vec::new());
        }
    });
}
