//! The feature-row schema, read from `schemas/feature_row.json` — its one definition.
//!
//! The Arrow schema of every Parquet file is built from that file at run time, so the code
//! cannot drift from it; tests check that the SQL migrations and the [`FeatureRow`] batches
//! agree with it too.
//!
//! [`FeatureRow`]: crate::features::FeatureRow

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;

use crate::error::{Error, Result};

/// The schema file, embedded at build time.
pub const FEATURE_ROW_JSON: &str = include_str!("../../schemas/feature_row.json");

/// One column of the schema file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Logical type: `timestamp`, `string`, `float64`, `int32`, `bool` or `list<string>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether nulls are allowed.
    pub nullable: bool,
    /// What the column means.
    pub description: String,
}

#[derive(Deserialize)]
struct SchemaFile {
    columns: Vec<Column>,
}

/// The parsed schema file and its Arrow schema, built once per process: sinks ask for them
/// on every flush.
type Parsed = std::result::Result<(Vec<Column>, SchemaRef), String>;
static PARSED: OnceLock<Parsed> = OnceLock::new();

fn parse() -> Parsed {
    let file: SchemaFile = serde_json::from_str(FEATURE_ROW_JSON).map_err(|e| e.to_string())?;
    let fields = file
        .columns
        .iter()
        .map(|c| Ok(Field::new(&c.name, arrow_type(&c.kind)?, c.nullable)))
        .collect::<Result<Vec<_>>>()
        .map_err(|e| e.to_string())?;
    Ok((file.columns, Arc::new(Schema::new(fields))))
}

fn parsed() -> Result<&'static (Vec<Column>, SchemaRef)> {
    PARSED
        .get_or_init(parse)
        .as_ref()
        .map_err(|e| Error::Schema(e.clone()))
}

/// The columns of the feature row, in order.
pub fn feature_columns() -> Result<&'static [Column]> {
    Ok(&parsed()?.0)
}

/// The Arrow type of a logical column type.
pub fn arrow_type(kind: &str) -> Result<DataType> {
    Ok(match kind {
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        "string" => DataType::Utf8,
        "float64" => DataType::Float64,
        "int32" => DataType::Int32,
        "bool" => DataType::Boolean,
        "list<string>" => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        other => return Err(Error::Schema(format!("unknown column type {other:?}"))),
    })
}

/// The Arrow schema of feature rows.
pub fn feature_schema() -> Result<SchemaRef> {
    Ok(Arc::clone(&parsed()?.1))
}
