//! Time-of-day features of a window, in the configured time zone.

use chrono::{Datelike, Timelike, Weekday};
use chrono_tz::Tz;

use crate::time::{pane_start_ns, Pane};

/// Calendar features of a window start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    /// 0..=23.
    pub hour_of_day: i32,
    /// 1..=7, Monday = 1.
    pub day_of_week: i32,
    /// 1..=31.
    pub day_of_month: i32,
    /// Saturday or Sunday.
    pub is_weekend: bool,
    /// 09:00 <= local time < 18:00 (any day; combine with `is_weekend` for working hours).
    pub is_business_hour: bool,
    /// 10:00–12:00 or 14:00–16:00 local time.
    pub is_peak_hour: bool,
}

/// Calendar features of the pane's start in `zone`.
pub fn calendar(pane: Pane, zone: Tz) -> Calendar {
    let seconds = (pane_start_ns(pane) / 1_000_000_000) as i64;
    let local = chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .with_timezone(&zone);
    let hour = local.hour() as i32;
    let weekday = local.weekday();
    Calendar {
        hour_of_day: hour,
        day_of_week: weekday.number_from_monday() as i32,
        day_of_month: local.day() as i32,
        is_weekend: matches!(weekday, Weekday::Sat | Weekday::Sun),
        is_business_hour: (9..18).contains(&hour),
        is_peak_hour: (10..12).contains(&hour) || (14..16).contains(&hour),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturday_peak_hour_in_berlin() {
        // 2026-01-03 (a Saturday) 13:30 UTC = 14:30 in Berlin (UTC+1 in winter).
        let pane = 1_767_447_000 / 60;
        let utc = calendar(pane, Tz::UTC);
        assert_eq!((utc.hour_of_day, utc.is_peak_hour), (13, false));
        let berlin = calendar(pane, Tz::Europe__Berlin);
        assert_eq!(berlin.hour_of_day, 14);
        assert_eq!(berlin.day_of_week, 6);
        assert_eq!(berlin.day_of_month, 3);
        assert!(berlin.is_weekend && berlin.is_peak_hour && berlin.is_business_hour);
    }
}
