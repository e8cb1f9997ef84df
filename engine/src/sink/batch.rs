//! Feature rows to an Arrow record batch with the schema of `schemas/feature_row.json`.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, ListBuilder, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::features::FeatureRow;
use crate::schema::feature_schema;

fn strings(rows: &[FeatureRow], get: impl Fn(&FeatureRow) -> Option<&str>) -> ArrayRef {
    Arc::new(rows.iter().map(get).collect::<StringArray>())
}

fn floats(rows: &[FeatureRow], get: impl Fn(&FeatureRow) -> Option<f64>) -> ArrayRef {
    Arc::new(rows.iter().map(get).collect::<Float64Array>())
}

fn ints(rows: &[FeatureRow], get: impl Fn(&FeatureRow) -> Option<i32>) -> ArrayRef {
    Arc::new(rows.iter().map(get).collect::<Int32Array>())
}

fn bools(rows: &[FeatureRow], get: impl Fn(&FeatureRow) -> Option<bool>) -> ArrayRef {
    Arc::new(rows.iter().map(get).collect::<BooleanArray>())
}

fn times(rows: &[FeatureRow], get: impl Fn(&FeatureRow) -> i64) -> ArrayRef {
    Arc::new(
        TimestampMicrosecondArray::from(rows.iter().map(get).collect::<Vec<_>>())
            .with_timezone("UTC"),
    )
}

fn lists(rows: &[FeatureRow], get: impl Fn(&FeatureRow) -> Option<&Vec<String>>) -> ArrayRef {
    let mut builder = ListBuilder::new(StringBuilder::new());
    for row in rows {
        match get(row) {
            Some(values) => {
                values.iter().for_each(|v| builder.values().append_value(v));
                builder.append(true);
            }
            None => builder.append(false),
        }
    }
    Arc::new(builder.finish())
}

/// Builds one record batch from rows, in the column order of the schema file.
pub fn rows_to_batch(rows: &[FeatureRow]) -> Result<RecordBatch> {
    let r = rows;
    let columns: Vec<ArrayRef> = vec![
        times(r, |x| x.time_us),
        strings(r, |x| Some(&x.service_name)),
        strings(r, |x| x.operation.as_deref()),
        ints(r, |x| x.http_status_code),
        floats(r, |x| x.request_rate_1m),
        floats(r, |x| x.request_rate_5m),
        floats(r, |x| x.request_rate_15m),
        floats(r, |x| x.request_rate_1h),
        floats(r, |x| x.error_rate_1m),
        floats(r, |x| x.error_rate_5m),
        floats(r, |x| x.p50_latency_1m),
        floats(r, |x| x.p95_latency_1m),
        floats(r, |x| x.p99_latency_1m),
        floats(r, |x| x.p50_latency_5m),
        floats(r, |x| x.p95_latency_5m),
        floats(r, |x| x.p99_latency_5m),
        ints(r, |x| Some(x.hour_of_day)),
        ints(r, |x| Some(x.day_of_week)),
        ints(r, |x| Some(x.day_of_month)),
        bools(r, |x| Some(x.is_weekend)),
        bools(r, |x| Some(x.is_business_hour)),
        bools(r, |x| Some(x.is_peak_hour)),
        lists(r, |x| x.upstream_services.as_ref()),
        lists(r, |x| x.downstream_services.as_ref()),
        ints(r, |x| x.dependency_count),
        floats(r, |x| x.cpu_usage),
        floats(r, |x| x.memory_usage),
        floats(r, |x| x.disk_io_read),
        floats(r, |x| x.disk_io_write),
        floats(r, |x| x.network_in),
        floats(r, |x| x.network_out),
        strings(r, |x| x.user_id.as_deref()),
        strings(r, |x| x.tenant_id.as_deref()),
        strings(r, |x| x.region.as_deref()),
        strings(r, |x| x.deployment_version.as_deref()),
        bools(r, |x| x.is_anomaly),
        strings(r, |x| x.anomaly_type.as_deref()),
        floats(r, |x| x.anomaly_score),
        strings(r, |x| x.root_cause.as_deref()),
        strings(r, |x| x.incident_id.as_deref()),
        times(r, |x| x.created_at_us),
    ];
    RecordBatch::try_new(feature_schema()?, columns).map_err(|e| {
        Error::Schema(format!(
            "feature rows do not match schemas/feature_row.json: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_follows_the_schema_file() {
        let row = FeatureRow {
            service_name: "cart".into(),
            request_rate_1m: Some(2.5),
            upstream_services: Some(vec!["frontend".into()]),
            ..Default::default()
        };
        let batch = rows_to_batch(&[row.clone(), row]).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), feature_schema().unwrap());
        let rates = batch
            .column_by_name("request_rate_1m")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(rates.value(1), 2.5);
    }
}
