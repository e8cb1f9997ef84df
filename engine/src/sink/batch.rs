//! Feature rows to Arrow: the schema and the record batches of the Parquet sink, both derived
//! from the row's one definition ([`COLUMNS`]).

use std::sync::{Arc, OnceLock};

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::features::row::{CellRef, ColumnKind, COLUMNS};
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

/// One column being built.
enum Builder {
    Timestamp(TimestampMicrosecondBuilder),
    Text(StringBuilder),
    Int32(Int32Builder),
    Float64(Float64Builder),
    Bool(BooleanBuilder),
    TextList(ListBuilder<StringBuilder>),
}

impl Builder {
    fn new(kind: ColumnKind, rows: usize) -> Self {
        match kind {
            ColumnKind::Timestamp => Builder::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            ),
            ColumnKind::Text => Builder::Text(StringBuilder::with_capacity(rows, rows * 16)),
            ColumnKind::Int32 => Builder::Int32(Int32Builder::with_capacity(rows)),
            ColumnKind::Float64 => Builder::Float64(Float64Builder::with_capacity(rows)),
            ColumnKind::Bool => Builder::Bool(BooleanBuilder::with_capacity(rows)),
            ColumnKind::TextList => Builder::TextList(ListBuilder::new(StringBuilder::new())),
        }
    }

    /// Appends one cell; a cell of another kind than the column's is a bug of ours.
    fn append(&mut self, cell: CellRef<'_>) -> Result<()> {
        match (self, cell) {
            (Builder::Timestamp(b), CellRef::Timestamp(v)) => b.append_value(v),
            (Builder::Text(b), CellRef::Text(v)) => b.append_option(v),
            (Builder::Int32(b), CellRef::Int32(v)) => b.append_option(v),
            (Builder::Float64(b), CellRef::Float64(v)) => b.append_option(v),
            (Builder::Bool(b), CellRef::Bool(v)) => b.append_option(v),
            (Builder::TextList(b), CellRef::TextList(v)) => match v {
                Some(values) => {
                    values.iter().for_each(|v| b.values().append_value(v));
                    b.append(true);
                }
                None => b.append(false),
            },
            (_, cell) => {
                return Err(Error::Schema(format!(
                    "a {cell:?} cell in a column of another kind"
                )))
            }
        }
        Ok(())
    }

    fn finish(self) -> ArrayRef {
        match self {
            Builder::Timestamp(mut b) => Arc::new(b.finish()),
            Builder::Text(mut b) => Arc::new(b.finish()),
            Builder::Int32(mut b) => Arc::new(b.finish()),
            Builder::Float64(mut b) => Arc::new(b.finish()),
            Builder::Bool(mut b) => Arc::new(b.finish()),
            Builder::TextList(mut b) => Arc::new(b.finish()),
        }
    }
}

/// Builds one record batch from rows, in the column order of [`COLUMNS`].
pub fn rows_to_batch(rows: &[FeatureRow]) -> Result<RecordBatch> {
    let mut builders: Vec<Builder> = COLUMNS
        .iter()
        .map(|c| Builder::new(c.kind, rows.len()))
        .collect();
    for row in rows {
        for (builder, cell) in builders.iter_mut().zip(row.cells()) {
            builder.append(cell)?;
        }
    }
    let columns = builders.into_iter().map(Builder::finish).collect();
    RecordBatch::try_new(feature_schema(), columns)
        .map_err(|e| Error::Schema(format!("feature rows do not match their schema: {e}")))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, Float64Array, ListArray};

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
