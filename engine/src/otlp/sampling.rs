//! Sampling weights: how many requests a sampled span stands for.
//!
//! A probability-sampled trace keeps a fraction p of requests, so each kept span counts as 1/p
//! requests (its adjusted count) in rates and call counts. OpenTelemetry's consistent
//! probability sampling records p in the W3C `tracestate` as the rejection threshold `th`
//! of the `ot` entry (`ot=th:c` keeps a quarter: p = 1 - 0xc0000000000000 / 2^56). Pipelines
//! that sample elsewhere can put the adjusted count in an attribute instead (Tempo's
//! `span_multiplier_key`); `[source] span_weight_attribute` names it.

/// The threshold's denominator: thresholds are 56-bit.
const MAX_THRESHOLD: f64 = (1u64 << 56) as f64;

/// The adjusted count `th` gives, if the tracestate carries a valid one.
pub fn tracestate_weight(trace_state: &str) -> Option<f64> {
    let ot = trace_state
        .split(',')
        .find_map(|member| member.trim().strip_prefix("ot="))?;
    let th = ot.split(';').find_map(|field| field.strip_prefix("th:"))?;
    if th.is_empty() || th.len() > 14 {
        return None;
    }
    let digits = u64::from_str_radix(th, 16).ok()?;
    let threshold = digits << (4 * (14 - th.len()));
    let probability = 1.0 - threshold as f64 / MAX_THRESHOLD;
    (probability > 0.0).then(|| 1.0 / probability)
}

/// An adjusted count read from an attribute: a finite number of at least 1.
pub fn attribute_weight(value: f64) -> Option<f64> {
    (value.is_finite() && value >= 1.0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_give_the_inverse_of_the_kept_fraction() {
        let weight = |state| tracestate_weight(state);
        assert_eq!(weight("ot=th:0"), Some(1.0));
        assert_eq!(weight("ot=th:8"), Some(2.0));
        assert_eq!(weight("vendor=x,ot=rv:0123456789abcd;th:c"), Some(4.0));
        // 10 %: the threshold OpenTelemetry's samplers write for a ratio of 0.1.
        let tenth = weight("ot=th:e666666666666").unwrap();
        assert!((tenth - 10.0).abs() < 1e-9, "{tenth}");
        for bad in [
            "",
            "ot=rv:abc",
            "ot=th:",
            "ot=th:zz",
            "ot=th:123456789abcdef",
            "x=th:8",
        ] {
            assert_eq!(weight(bad), None, "{bad}");
        }
        assert_eq!(attribute_weight(10.0), Some(10.0));
        assert_eq!(attribute_weight(0.5), None);
        assert_eq!(attribute_weight(f64::NAN), None);
    }
}
