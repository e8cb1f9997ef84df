//! Seeded random streams: one independent, reproducible generator per (purpose, key).
//!
//! Every random decision of the simulator draws from a generator derived from the user's seed
//! and the decision's identity (for example the simulated second and the trace number), never
//! from a shared sequence; so the output does not depend on how many workers generate it.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// SplitMix64 finalizer: a fast, well-mixed 64-bit hash step.
pub fn mix(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

/// A generator for one decision, from the seed and three keys.
pub fn rng_for(seed: u64, a: u64, b: u64, c: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(seed ^ mix(a ^ mix(b ^ mix(c)))))
}
