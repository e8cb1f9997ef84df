//! Native daily partitions of `otlp_ai_features` (the fallback without TimescaleDB).

use std::collections::BTreeSet;

use postgres::error::SqlState;
use postgres::Client;

use super::db_error;
use crate::error::Result;
use crate::features::FeatureRow;

const DAY_US: i64 = 86_400_000_000;

fn day_name(day: i64) -> String {
    let date = chrono::DateTime::from_timestamp(day * 86_400, 0).unwrap_or_default();
    format!("otlp_ai_features_p{}", date.format("%Y%m%d"))
}

/// Creates the daily partitions the rows fall in, plus `ahead` days after the newest.
pub fn ensure(
    client: &mut Client,
    known: &mut BTreeSet<i64>,
    rows: &[FeatureRow],
    ahead: u32,
    server: &str,
) -> Result<()> {
    let mut days: BTreeSet<i64> = rows.iter().map(|r| r.time_us.div_euclid(DAY_US)).collect();
    if let Some(&newest) = days.last() {
        days.extend(newest + 1..=newest + i64::from(ahead));
    }
    for day in days.difference(&known.clone()) {
        let from = chrono::DateTime::from_timestamp(day * 86_400, 0).unwrap_or_default();
        let to = chrono::DateTime::from_timestamp((day + 1) * 86_400, 0).unwrap_or_default();
        let statement = format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF otlp_ai_features FOR VALUES FROM ('{}') TO ('{}')",
            day_name(*day),
            from.format("%Y-%m-%d %H:%M:%S+00"),
            to.format("%Y-%m-%d %H:%M:%S+00")
        );
        if let Err(error) = client.batch_execute(&statement) {
            // Another worker may have created it between IF NOT EXISTS and the insert.
            let raced = error.code().is_some_and(|c| {
                *c == SqlState::DUPLICATE_TABLE || *c == SqlState::UNIQUE_VIOLATION
            });
            if !raced {
                return Err(db_error(
                    format!("creating partition {} on {server}", day_name(*day)),
                    &error,
                ));
            }
        }
        known.insert(*day);
    }
    Ok(())
}

/// Drops the daily partitions that end before `now - retention_days`.
pub fn drop_older_than(
    client: &mut Client,
    now_us: i64,
    retention_days: u32,
    server: &str,
) -> Result<Vec<String>> {
    let cutoff_day = (now_us - i64::from(retention_days) * DAY_US).div_euclid(DAY_US);
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'otlp_ai_features'::regclass ORDER BY 1",
            &[],
        )
        .map_err(|e| db_error(format!("listing partitions on {server}"), &e))?;
    let mut dropped = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        let Some(date) = name
            .strip_prefix("otlp_ai_features_p")
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y%m%d").ok())
        else {
            continue;
        };
        let day = date
            .and_hms_opt(0, 0, 0)
            .map_or(i64::MAX, |t| t.and_utc().timestamp() / 86_400);
        if day < cutoff_day {
            client
                .batch_execute(&format!("DROP TABLE IF EXISTS {name}"))
                .map_err(|e| db_error(format!("dropping {name} on {server}"), &e))?;
            dropped.push(name);
        }
    }
    Ok(dropped)
}
