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

/// The retention horizon at `now_us`: the start of the oldest day retention keeps. Whole days,
/// because retention drops whole daily partitions (TimescaleDB whole chunks): a row at or after
/// it is not dropped until the horizon moves past its day.
pub fn horizon_us(now_us: i64, retention_days: u32) -> i64 {
    (now_us - i64::from(retention_days) * DAY_US).div_euclid(DAY_US) * DAY_US
}

/// A partition retention dropped, with the rows it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The partition's table name.
    pub name: String,
    /// Rows it held when it was dropped.
    pub rows: i64,
}

/// Drops the daily partitions that end at or before the retention horizon (see
/// [`horizon_us`]), counting each one's rows first so the drop can be reported.
pub fn drop_older_than(
    client: &mut Client,
    now_us: i64,
    retention_days: u32,
    server: &str,
) -> Result<Vec<Dropped>> {
    let cutoff_day = horizon_us(now_us, retention_days) / DAY_US;
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
            dropped.push(drop_partition(client, name, server)?);
        }
    }
    Ok(dropped)
}

/// Counts a partition's rows and drops it, in one transaction so no row escapes the count.
fn drop_partition(client: &mut Client, name: String, server: &str) -> Result<Dropped> {
    let failed = |e: &postgres::Error| db_error(format!("dropping {name} on {server}"), e);
    let mut transaction = client.transaction().map_err(|e| failed(&e))?;
    let rows: i64 = transaction
        .query_one(&format!("SELECT count(*) FROM {name}"), &[])
        .map_err(|e| failed(&e))?
        .get(0);
    transaction
        .batch_execute(&format!("DROP TABLE IF EXISTS {name}"))
        .map_err(|e| failed(&e))?;
    transaction.commit().map_err(|e| failed(&e))?;
    Ok(Dropped { name, rows })
}

#[cfg(test)]
mod tests {
    use super::{horizon_us, DAY_US};

    #[test]
    fn the_horizon_is_the_start_of_the_oldest_kept_day() {
        let noon = 20_000 * DAY_US + DAY_US / 2;
        assert_eq!(horizon_us(noon, 90), (20_000 - 90) * DAY_US);
        assert_eq!(horizon_us(20_000 * DAY_US, 1), 19_999 * DAY_US);
        assert_eq!(horizon_us(noon, 0), 20_000 * DAY_US);
    }
}
