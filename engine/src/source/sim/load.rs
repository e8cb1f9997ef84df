//! Load seasonality: how many requests per second the entry service gets at a given time.

use chrono::{Datelike, Timelike, Weekday};

/// Fraction of the peak load at `time_ns`: a daily curve peaking at 14:00 UTC (0.3 at night)
/// times 0.6 on weekends.
pub fn load_factor(time_ns: u64) -> f64 {
    let seconds = (time_ns / 1_000_000_000) as i64;
    let time = chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default();
    let hour = f64::from(time.hour()) + f64::from(time.minute()) / 60.0;
    let daily = 0.3 + 0.7 * (-((hour - 14.0) / 5.0).powi(2)).exp();
    let weekly = match time.weekday() {
        Weekday::Sat | Weekday::Sun => 0.6,
        _ => 1.0,
    };
    daily * weekly
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn afternoon_weekday_is_busier_than_weekend_night() {
        let monday_14h = 1_767_621_600u64 * 1_000_000_000; // 2026-01-05 14:00 UTC
        let sunday_3h = 1_767_495_600u64 * 1_000_000_000; // 2026-01-04 03:00 UTC
        assert!((load_factor(monday_14h) - 1.0).abs() < 1e-9);
        assert!(load_factor(sunday_3h) < 0.3);
    }
}
