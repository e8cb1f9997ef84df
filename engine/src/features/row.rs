//! The feature row: one per (service, minute), the unit every sink writes — and the one
//! definition of its columns.
//!
//! `feature_row!` below declares each column once: its field, its Rust type (which fixes
//! its logical type and nullability, see [`Cell`]) and its description. From that list come
//! the [`FeatureRow`] struct, [`COLUMNS`] (names, types, nullability, descriptions), and
//! [`FeatureRow::cells`]; the Arrow schema and batches, the PostgreSQL COPY column list and
//! types, and `schemas/feature_row.json` are all derived from them, and a test fails when the
//! SQL migrations or the JSON file disagree. Adding a column is one line here (plus computing
//! it in [`super::windows`]) and a migration.

use serde::ser::SerializeMap;

use crate::record::{key_parts, service_key};
use serde::Serialize;

/// Logical type of a column, with its Arrow and PostgreSQL counterparts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Arrow `Timestamp(µs, UTC)` / `TIMESTAMPTZ`; µs since the Unix epoch in the struct.
    Timestamp,
    /// Arrow `Utf8` / `TEXT`.
    Text,
    /// Arrow `Int32` / `INTEGER`.
    Int32,
    /// Arrow `Float64` / `DOUBLE PRECISION`.
    Float64,
    /// Arrow `Boolean` / `BOOLEAN`.
    Bool,
    /// Arrow `List(Utf8)` / `TEXT[]`.
    TextList,
}

impl ColumnKind {
    /// Every kind, in the order the schema file lists them.
    pub const ALL: [ColumnKind; 6] = [
        ColumnKind::Timestamp,
        ColumnKind::Text,
        ColumnKind::Float64,
        ColumnKind::Int32,
        ColumnKind::Bool,
        ColumnKind::TextList,
    ];

    /// The name in `schemas/feature_row.json`.
    pub fn name(self) -> &'static str {
        match self {
            ColumnKind::Timestamp => "timestamp",
            ColumnKind::Text => "string",
            ColumnKind::Int32 => "int32",
            ColumnKind::Float64 => "float64",
            ColumnKind::Bool => "bool",
            ColumnKind::TextList => "list<string>",
        }
    }

    /// The PostgreSQL type the migrations declare.
    pub fn sql_type(self) -> &'static str {
        match self {
            ColumnKind::Timestamp => "TIMESTAMPTZ",
            ColumnKind::Text => "TEXT",
            ColumnKind::Int32 => "INTEGER",
            ColumnKind::Float64 => "DOUBLE PRECISION",
            ColumnKind::Bool => "BOOLEAN",
            ColumnKind::TextList => "TEXT[]",
        }
    }

    fn arrow_name(self) -> &'static str {
        match self {
            ColumnKind::Timestamp => "Timestamp(us, UTC)",
            ColumnKind::Text => "Utf8",
            ColumnKind::Int32 => "Int32",
            ColumnKind::Float64 => "Float64",
            ColumnKind::Bool => "Boolean",
            ColumnKind::TextList => "List(Utf8)",
        }
    }
}

/// One column of the feature row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Column name in Parquet and PostgreSQL.
    pub name: &'static str,
    /// Logical type.
    pub kind: ColumnKind,
    /// Whether nulls are allowed.
    pub nullable: bool,
    /// What the column means.
    pub description: &'static str,
}

/// One value of a row, borrowed, tagged with its column's kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellRef<'a> {
    /// µs since the Unix epoch.
    Timestamp(i64),
    /// A string.
    Text(Option<&'a str>),
    /// A 32-bit integer.
    Int32(Option<i32>),
    /// A float.
    Float64(Option<f64>),
    /// A boolean.
    Bool(Option<bool>),
    /// A list of strings.
    TextList(Option<&'a [String]>),
}

/// Typed views of a cell: the value when the cell is of that kind, `None` otherwise (and for
/// a null). A columnar writer knows each column's kind, so `None` for another kind never
/// happens there; a non-nullable column would reject it.
impl<'a> CellRef<'a> {
    /// A timestamp's µs.
    pub fn timestamp(self) -> Option<i64> {
        match self {
            CellRef::Timestamp(v) => Some(v),
            _ => None,
        }
    }

    /// A string.
    pub fn text(self) -> Option<&'a str> {
        match self {
            CellRef::Text(v) => v,
            _ => None,
        }
    }

    /// A 32-bit integer.
    pub fn int32(self) -> Option<i32> {
        match self {
            CellRef::Int32(v) => v,
            _ => None,
        }
    }

    /// A float.
    pub fn float64(self) -> Option<f64> {
        match self {
            CellRef::Float64(v) => v,
            _ => None,
        }
    }

    /// A boolean.
    pub fn bool(self) -> Option<bool> {
        match self {
            CellRef::Bool(v) => v,
            _ => None,
        }
    }

    /// A list of strings.
    pub fn text_list(self) -> Option<&'a [String]> {
        match self {
            CellRef::TextList(v) => v,
            _ => None,
        }
    }
}

/// A Rust type a column may have: its kind, its nullability, and its value as a [`CellRef`].
/// Only `i64` is a timestamp (µs), so the field's type alone fixes the column's type.
pub trait Cell {
    /// The column's logical type.
    const KIND: ColumnKind;
    /// Whether the column allows nulls (`Option` fields).
    const NULLABLE: bool;
    /// The value, borrowed.
    fn cell(&self) -> CellRef<'_>;
}

/// Receives the columns of many rows, one at a time (see [`FeatureRow::visit_columns`]).
pub trait ColumnVisitor {
    /// One column: `get` reads its field from a row; `T` fixes its kind.
    fn column<T: Cell>(&mut self, rows: &[FeatureRow], get: impl Fn(&FeatureRow) -> &T);
}

macro_rules! cells {
    ($($ty:ty => $kind:ident, $nullable:literal, |$v:ident| $value:expr;)*) => {$(
        impl Cell for $ty {
            const KIND: ColumnKind = ColumnKind::$kind;
            const NULLABLE: bool = $nullable;
            fn cell(&self) -> CellRef<'_> {
                let $v = self;
                CellRef::$kind($value)
            }
        }
    )*};
}

cells! {
    i64 => Timestamp, false, |v| *v;
    String => Text, false, |v| Some(v.as_str());
    Option<String> => Text, true, |v| v.as_deref();
    i32 => Int32, false, |v| Some(*v);
    Option<i32> => Int32, true, |v| *v;
    Option<f64> => Float64, true, |v| *v;
    bool => Bool, false, |v| Some(*v);
    Option<bool> => Bool, true, |v| *v;
    Option<Vec<String>> => TextList, true, |v| v.as_deref();
}

/// The column name of a field: the field's own name unless the declaration gives another.
macro_rules! column_name {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident $column:literal) => {
        $column
    };
}

/// Declares [`FeatureRow`], [`COLUMNS`] and [`FeatureRow::cells`] from one list of
/// `/// description` + `field: Type [=> "column name"]`.
macro_rules! feature_row {
    ($(#[doc = $doc:literal] $field:ident: $ty:ty $(=> $column:literal)?,)*) => {
        /// One row of the feature table `otlp_ai_features`. Timestamps are µs since the Unix
        /// epoch, UTC.
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct FeatureRow {
            $(#[doc = $doc] pub $field: $ty,)*
        }

        /// The columns of the feature row, in order.
        pub const COLUMNS: [Column; [$(stringify!($field)),*].len()] = [$(Column {
            name: column_name!($field $($column)?),
            kind: <$ty as Cell>::KIND,
            nullable: <$ty as Cell>::NULLABLE,
            description: $doc.trim_ascii_start(),
        }),*];

        impl FeatureRow {
            /// The row's values, in the order of [`COLUMNS`].
            pub fn cells(&self) -> [CellRef<'_>; COLUMNS.len()] {
                [$(Cell::cell(&self.$field)),*]
            }

            /// Hands `visitor` every column of `rows` in the order of [`COLUMNS`], one column
            /// at a time with its field's own type, so a columnar writer runs one
            /// monomorphised loop per column instead of a type dispatch per cell.
            pub fn visit_columns(rows: &[FeatureRow], visitor: &mut impl ColumnVisitor) {
                $(visitor.column(rows, |row| &row.$field);)*
            }
        }
    };
}

feature_row! {
    /// Window start (the minute), UTC
    time_us: i64 => "time",
    /// service.name of the emitting resource
    service_name: String,
    /// Most frequent request operation (span name) of the minute
    operation: Option<String>,
    /// Most frequent HTTP status of the minute's requests
    http_status_code: Option<i32>,
    /// Requests per second over the minute (SERVER/CONSUMER and root spans)
    request_rate_1m: Option<f64>,
    /// Requests per second over the 5 minutes ending with this one
    request_rate_5m: Option<f64>,
    /// Requests per second over the 15 minutes ending with this one
    request_rate_15m: Option<f64>,
    /// Requests per second over the hour ending with this minute
    request_rate_1h: Option<f64>,
    /// Failed / all requests over the minute (status ERROR or HTTP >= 500)
    error_rate_1m: Option<f64>,
    /// Failed / all requests over 5 minutes
    error_rate_5m: Option<f64>,
    /// Median request latency over the minute, ms (relative error <= 1%)
    p50_latency_1m: Option<f64>,
    /// 95th percentile request latency over the minute, ms
    p95_latency_1m: Option<f64>,
    /// 99th percentile request latency over the minute, ms
    p99_latency_1m: Option<f64>,
    /// Median request latency over 5 minutes, ms
    p50_latency_5m: Option<f64>,
    /// 95th percentile request latency over 5 minutes, ms
    p95_latency_5m: Option<f64>,
    /// 99th percentile request latency over 5 minutes, ms
    p99_latency_5m: Option<f64>,
    /// Local hour of the window start, 0-23
    hour_of_day: i32,
    /// Local day of week, 1-7, Monday = 1
    day_of_week: i32,
    /// Local day of month, 1-31
    day_of_month: i32,
    /// Saturday or Sunday, local
    is_weekend: bool,
    /// 09:00 <= local time < 18:00
    is_business_hour: bool,
    /// 10:00-12:00 or 14:00-16:00 local
    is_peak_hour: bool,
    /// Services with at least one call to this one in the minute (from traces), sorted
    upstream_services: Option<Vec<String>>,
    /// Services and virtual nodes (databases, queues) this one called in the minute, sorted
    downstream_services: Option<Vec<String>>,
    /// Distinct callers and callees in the minute
    dependency_count: Option<i32>,
    /// CPU utilization, percent (see engine/src/features/metric_map.rs)
    cpu_usage: Option<f64>,
    /// Memory utilization, percent
    memory_usage: Option<f64>,
    /// Disk read rate, MB/s (10^6 bytes)
    disk_io_read: Option<f64>,
    /// Disk write rate, MB/s
    disk_io_write: Option<f64>,
    /// Network receive rate, MB/s
    network_in: Option<f64>,
    /// Network transmit rate, MB/s
    network_out: Option<f64>,
    /// Always null: one id cannot describe a minute's users; see distinct_users
    user_id: Option<String>,
    /// Tenant id (not derived yet)
    tenant_id: Option<String>,
    /// cloud.region
    region: Option<String>,
    /// service.version
    deployment_version: Option<String>,
    /// Whether the detector flags the row (null while its features lack history)
    is_anomaly: Option<bool>,
    /// The feature that moved most, when anomalous (e.g. p95_latency_1m)
    anomaly_type: Option<String>,
    /// 0..1, 0.5 at the detection threshold (null while its features lack history)
    anomaly_score: Option<f64>,
    /// The root cause of the incident that names this service in this minute
    root_cause: Option<String>,
    /// The incident that names this service in this minute (`INC-<opening minute>`)
    incident_id: Option<String>,
    /// When the row was produced, UTC
    created_at_us: i64 => "created_at",
    /// Log records per second over the minute
    log_rate: Option<f64>,
    /// Log records of severity ERROR or worse per second over the minute
    error_log_rate: Option<f64>,
    /// Log records per second whose template was first seen this minute (see templates.rs)
    new_template_rate: Option<f64>,
    /// deployment.environment.name ('' when unset); with service_name and time, the row's key
    environment: String,
    /// Distinct end users (enduser.id, or identity.user_attribute) among the minute's spans
    distinct_users: Option<i32>,
    /// Log templates that moved most against their baseline this minute (at most 3), as text
    moved_templates: Option<Vec<String>>,
    /// The input ended inside this minute (a bounded run or a stop): part of it, not judged
    partial: bool,
    /// How far the minute's mix of log templates moved, in Poisson deviations (see templates.rs)
    template_shift: Option<f64>,
    /// How far the calls per operation execution moved, in Poisson deviations (structure.rs)
    structure_shift: Option<f64>,
    /// Calls (parent operation → child operation) that moved most this minute (at most 3)
    moved_calls: Option<Vec<String>>,
}

impl FeatureRow {
    /// The row's service key (name and environment, see [`crate::record::service_key`]): what
    /// detectors, graphs and incidents know the service by.
    pub fn service_key(&self) -> String {
        service_key(&self.service_name, &self.environment)
    }

    /// Sets `service_name` and `environment` from a service key.
    pub fn set_service(&mut self, key: &str) {
        let (name, environment) = key_parts(key);
        self.service_name = name.to_string();
        self.environment = environment.to_string();
    }
}

/// The table the rows are stored in.
pub const TABLE: &str = "otlp_ai_features";
/// The table's key: a re-written window upserts instead of duplicating.
pub const KEY: [&str; 3] = ["service_name", "environment", "time"];

/// The text of `schemas/feature_row.json`, as derived from [`COLUMNS`]: keys in a fixed order,
/// so the file reads top to bottom as a reference.
pub fn json_schema() -> String {
    /// The logical types and what they are in Arrow and PostgreSQL, in [`ColumnKind::ALL`]'s
    /// order.
    struct Types;

    impl Serialize for Types {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(ColumnKind::ALL.len()))?;
            for kind in ColumnKind::ALL {
                let both = format!(
                    "Arrow {} / PostgreSQL {}",
                    kind.arrow_name(),
                    kind.sql_type()
                );
                map.serialize_entry(kind.name(), &both)?;
            }
            map.end()
        }
    }

    #[derive(Serialize)]
    struct ColumnEntry {
        name: &'static str,
        #[serde(rename = "type")]
        kind: &'static str,
        nullable: bool,
        description: &'static str,
    }

    #[derive(Serialize)]
    struct SchemaFile {
        #[serde(rename = "$comment")]
        comment: &'static str,
        table: &'static str,
        key: [&'static str; 3],
        types: Types,
        columns: Vec<ColumnEntry>,
    }

    let columns = COLUMNS
        .iter()
        .map(|c| ColumnEntry {
            name: c.name,
            kind: c.kind.name(),
            nullable: c.nullable,
            description: c.description,
        })
        .collect();
    let file = SchemaFile {
        comment: SCHEMA_COMMENT,
        table: TABLE,
        key: KEY,
        types: Types,
        columns,
    };
    // Plain strings, numbers and sequences: serializing them cannot fail.
    serde_json::to_string_pretty(&file).unwrap_or_default() + "\n"
}

const SCHEMA_COMMENT: &str = "Generated from engine/src/features/row.rs, the one definition of \
the feature row; a test fails when this file differs (AIOPS_BLESS=1 cargo test -p aiops-engine \
schema_file rewrites it). The Arrow schema, the COPY statement and this file are derived from \
that definition; tests check the SQL migrations against it.";

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/feature_row.json");

    /// Records what a columnar writer would see: each column's kind and its cells, printed.
    struct Seen(Vec<(ColumnKind, Vec<String>)>);

    impl ColumnVisitor for Seen {
        fn column<T: Cell>(&mut self, rows: &[FeatureRow], get: impl Fn(&FeatureRow) -> &T) {
            let cells = rows.iter().map(|row| format!("{:?}", get(row).cell()));
            self.0.push((T::KIND, cells.collect()));
        }
    }

    #[test]
    fn columns_are_visited_in_order_with_the_cells_of_each_row() {
        let first = FeatureRow {
            time_us: 7,
            service_name: "cart".into(),
            p99_latency_1m: Some(80.0),
            upstream_services: Some(vec!["web".into()]),
            ..Default::default()
        };
        let second = FeatureRow {
            service_name: "web".into(),
            is_anomaly: Some(true),
            ..Default::default()
        };
        let mut seen = Seen(Vec::new());
        FeatureRow::visit_columns(&[first.clone(), second.clone()], &mut seen);
        let kinds: Vec<ColumnKind> = seen.0.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(kinds, COLUMNS.map(|c| c.kind).to_vec());
        for (index, (_, cells)) in seen.0.iter().enumerate() {
            let by_row = [first.cells()[index], second.cells()[index]].map(|c| format!("{c:?}"));
            assert_eq!(cells, &by_row.to_vec(), "column {}", COLUMNS[index].name);
        }
        let p99 = COLUMNS
            .iter()
            .position(|c| c.name == "p99_latency_1m")
            .unwrap();
        assert_eq!(seen.0[p99].1, ["Float64(Some(80.0))", "Float64(None)"]);
    }

    #[test]
    fn schema_file_is_derived_from_the_row() {
        let derived = json_schema();
        if std::env::var_os("AIOPS_BLESS").is_some() {
            std::fs::write(SCHEMA_FILE, &derived).unwrap();
        }
        let file = std::fs::read_to_string(SCHEMA_FILE).unwrap();
        assert!(
            file == derived,
            "schemas/feature_row.json differs from FeatureRow; rewrite it with \
             AIOPS_BLESS=1 cargo test -p aiops-engine schema_file"
        );
    }

    #[test]
    fn cells_follow_the_columns() {
        let row = FeatureRow {
            time_us: 60_000_000,
            service_name: "cart".into(),
            request_rate_1m: Some(2.5),
            upstream_services: Some(vec!["frontend".into()]),
            ..Default::default()
        };
        let cells = row.cells();
        assert_eq!(cells.len(), COLUMNS.len());
        assert_eq!(
            (COLUMNS[0].name, cells[0]),
            ("time", CellRef::Timestamp(60_000_000))
        );
        assert!(!COLUMNS[1].nullable);
        let rate = COLUMNS
            .iter()
            .position(|c| c.name == "request_rate_1m")
            .unwrap();
        assert_eq!(cells[rate], CellRef::Float64(Some(2.5)));
        let callers = COLUMNS
            .iter()
            .position(|c| c.name == "upstream_services")
            .unwrap();
        assert_eq!(
            cells[callers],
            CellRef::TextList(Some(&["frontend".to_string()][..]))
        );
        // Columns added by later migrations come last, as PostgreSQL appends them.
        assert_eq!(COLUMNS.last().unwrap().name, "moved_calls");
    }
}
