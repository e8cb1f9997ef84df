//! Fuzz target: OTLP/JSON requests into spans, metric points and log records (the decoder every
//! source shares), and log bodies through the template miner. The first byte picks the signal;
//! the rest is the message. Must never panic.

use aiops_engine::otlp::Decoding;
use aiops_engine::record::Encoding;

#[path = "decoders.rs"]
mod decoders;

fn main() {
    let decoding = Decoding::default();
    afl::fuzz!(|data: &[u8]| decoders::decode(data, Encoding::OtlpJson, &decoding));
}
