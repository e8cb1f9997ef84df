//! Feature rows to Arrow: the schema and the record batches of the Parquet sink, both derived
//! from the row's one definition ([`COLUMNS`]).

use std::sync::{Arc, OnceLock};

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, ListArray, ListBuilder, StringArray,
    StringBuilder, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::features::row::{Cell, CellRef, ColumnKind, ColumnVisitor, COLUMNS};
use crate::features::FeatureRow;

/// The Arrow type of a column kind.
pub fn arrow_type(kind: ColumnKind) -> DataType {
    match kind {
        ColumnKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ColumnKind::Text => DataType::Utf8,
        ColumnKind::Int32 => DataType::Int32,
        ColumnKind::Float64 => DataType::Float64,
        ColumnKind::Bool => DataType::Boolean,
        ColumnKind::TextList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
    }
}

/// The Arrow schema of feature rows, built once per process: sinks ask for it on every flush.
pub fn feature_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    let fields = || {
        let fields = COLUMNS
            .iter()
            .map(|c| Field::new(c.name, arrow_type(c.kind), c.nullable));
        Arc::new(Schema::new(fields.collect::<Vec<_>>()))
    };
    Arc::clone(SCHEMA.get_or_init(fields))
}

/// Collects the Arrow arrays of a batch, one column per call.
struct ArrowColumns(Vec<ArrayRef>);

impl ColumnVisitor for ArrowColumns {
    fn column<T: Cell>(&mut self, rows: &[FeatureRow], get: impl Fn(&FeatureRow) -> &T) {
        let cells = rows.iter().map(|row| get(row).cell());
        let array: ArrayRef = match T::KIND {
            ColumnKind::Timestamp => {
                let values = cells
                    .map(CellRef::timestamp)
                    .collect::<TimestampMicrosecondArray>();
                Arc::new(values.with_timezone("UTC"))
            }
            ColumnKind::Text => Arc::new(cells.map(CellRef::text).collect::<StringArray>()),
            ColumnKind::Int32 => Arc::new(cells.map(CellRef::int32).collect::<Int32Array>()),
            ColumnKind::Float64 => Arc::new(cells.map(CellRef::float64).collect::<Float64Array>()),
            ColumnKind::Bool => Arc::new(cells.map(CellRef::bool).collect::<BooleanArray>()),
            ColumnKind::TextList => Arc::new(text_lists(cells.map(CellRef::text_list))),
        };
        self.0.push(array);
    }
}

fn text_lists<'a>(lists: impl Iterator<Item = Option<&'a [String]>>) -> ListArray {
    let mut builder = ListBuilder::new(StringBuilder::new());
    for list in lists {
        match list {
            Some(values) => {
                values.iter().for_each(|v| builder.values().append_value(v));
                builder.append(true);
            }
            None => builder.append(false),
        }
    }
    builder.finish()
}

/// Builds one record batch from rows, in the column order of [`COLUMNS`].
///
/// Column at a time: each column is one typed loop over the rows (see
/// [`FeatureRow::visit_columns`]), which is what keeps this at the cost of hand-written
/// per-column code. A cell that does not fit its column comes out null, and `try_new` then
/// rejects it in a non-nullable column.
pub fn rows_to_batch(rows: &[FeatureRow]) -> Result<RecordBatch> {
    let mut columns = ArrowColumns(Vec::with_capacity(COLUMNS.len()));
    FeatureRow::visit_columns(rows, &mut columns);
    RecordBatch::try_new(feature_schema(), columns.0)
        .map_err(|e| Error::Schema(format!("feature rows do not match their schema: {e}")))
}

#[cfg(test)]
mod tests {
    use arrow::array::Array;

    use super::*;

    #[test]
    fn batch_follows_the_columns() {
        let row = FeatureRow {
            service_name: "cart".into(),
            request_rate_1m: Some(2.5),
            upstream_services: Some(vec!["frontend".into()]),
            ..Default::default()
        };
        let empty = FeatureRow {
            service_name: "cart".into(),
            ..Default::default()
        };
        let batch = rows_to_batch(&[row, empty]).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.num_columns(), COLUMNS.len());
        assert_eq!(batch.schema(), feature_schema());
        let rates = batch
            .column_by_name("request_rate_1m")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!((rates.value(0), rates.is_null(1)), (2.5, true));
        let callers = batch
            .column_by_name("upstream_services")
            .unwrap()
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        assert_eq!((callers.value(0).len(), callers.is_null(1)), (1, true));
    }
}
