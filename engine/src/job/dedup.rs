//! Exact duplicates: the same record delivered twice, as a producer retry does.
//!
//! A producer that retries a send whose acknowledgement was lost appends the same bytes again,
//! usually within a few records of the first copy. Counting both would double the requests of
//! one second of one service. An identical OTLP export request carries the same spans (same
//! trace and span ids, same timestamps), so two equal records are one record by definition:
//! dropping the second copy is always right. The filter remembers the fingerprints (xxh3,
//! 128 bits) of each partition's last [`REMEMBERED`] records, enough to span any producer's
//! in-flight window; a copy that arrives later than that, or across a restart's replay
//! boundary, is not recognised.

use std::collections::{HashMap, HashSet, VecDeque};

/// Records per partition whose fingerprints are remembered.
pub const REMEMBERED: usize = 4096;

#[derive(Default)]
struct Recent {
    order: VecDeque<u128>,
    set: HashSet<u128>,
}

/// Recently seen records, per partition.
#[derive(Default)]
pub struct DuplicateFilter {
    partitions: HashMap<u32, Recent>,
}

impl DuplicateFilter {
    /// Whether `bytes` equal a record recently seen on `partition`; remembers them if not.
    pub fn is_duplicate(&mut self, partition: u32, bytes: &[u8]) -> bool {
        let fingerprint = xxhash_rust::xxh3::xxh3_128(bytes);
        let recent = self.partitions.entry(partition).or_default();
        if !recent.set.insert(fingerprint) {
            return true;
        }
        recent.order.push_back(fingerprint);
        if recent.order.len() > REMEMBERED {
            if let Some(oldest) = recent.order.pop_front() {
                recent.set.remove(&oldest);
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_record_is_a_duplicate_within_the_window_and_per_partition() {
        let mut filter = DuplicateFilter::default();
        assert!(!filter.is_duplicate(0, b"request a"));
        assert!(!filter.is_duplicate(0, b"request b"));
        assert!(filter.is_duplicate(0, b"request a"));
        assert!(
            !filter.is_duplicate(1, b"request a"),
            "partitions are separate"
        );
        for i in 0..REMEMBERED {
            filter.is_duplicate(0, format!("filler {i}").as_bytes());
        }
        assert!(
            !filter.is_duplicate(0, b"request a"),
            "forgotten after the window"
        );
    }
}
