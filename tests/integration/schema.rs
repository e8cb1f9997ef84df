//! The feature row is defined once, in engine/src/features/row.rs: the SQL migration and the
//! Parquet files agree with it (schemas/feature_row.json is checked by a unit test there).

use aiops_engine::features::row::COLUMNS;
use aiops_engine::sink::feature_schema;

use crate::common::{read_batches, simulate};

#[test]
fn sql_migration_declares_the_schema_columns() {
    let sql = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sql/migrations/0001_feature_table.sql"
    ))
    .unwrap();
    let body = &sql[sql.find("otlp_ai_features (").unwrap()..sql.find("PRIMARY KEY").unwrap()];
    // Later migrations append columns; PostgreSQL puts them last, as the row declares them.
    // Both storage paths add the same ones: read the native path, check the other agrees.
    let added_on = |path: &str| -> Vec<String> {
        aiops_engine::sink::postgres::migrate::MIGRATIONS
            .iter()
            .filter(|(name, _)| !name.ends_with(&format!(".{path}.sql")))
            .flat_map(|(_, text)| text.lines())
            .filter_map(|line| {
                line.strip_prefix("ALTER TABLE otlp_ai_features ADD COLUMN IF NOT EXISTS ")
            })
            .map(|line| line.trim_end_matches(';').to_string())
            .collect()
    };
    let added = added_on("timescale");
    assert_eq!(added, added_on("native"), "both paths add the same columns");
    let declared: Vec<(String, String, bool)> = body
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .chain(added.iter().map(String::as_str))
        .map(|line| {
            let line = line.trim_end_matches(',');
            let (name, rest) = line.split_once(' ').unwrap();
            let not_null = rest.contains("NOT NULL");
            let kind = rest
                .split(" NOT NULL")
                .next()
                .unwrap()
                .split(" DEFAULT")
                .next()
                .unwrap()
                .trim()
                .to_string();
            (name.to_string(), kind, !not_null)
        })
        .collect();
    let expected: Vec<(String, String, bool)> = COLUMNS
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                c.kind.sql_type().to_string(),
                c.nullable,
            )
        })
        .collect();
    assert_eq!(declared, expected);
}

#[test]
fn parquet_files_carry_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    simulate(&data, "2m", "3", &[]);
    let batches = read_batches(dir.path());
    assert!(!batches.is_empty());
    let expected = feature_schema();
    for batch in batches {
        assert_eq!(batch.schema().fields(), expected.fields());
    }
}
