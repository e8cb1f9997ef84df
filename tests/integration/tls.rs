//! TLS to PostgreSQL: the test server (tests/run.sh) serves a certificate from its own CA and
//! lets the role `tls_only` in over TLS only, as managed databases do. The job connects with
//! `sslmode=verify-full` and the CA file, refuses a server its CA did not sign, and a plain
//! connection is refused by the server.

use postgres::Client;

use crate::common::{aiops, fresh_database, run_ok, simulate};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `bash tests/run.sh`, which starts PostgreSQL with TLS")
    })
}

/// The database of `admin_url`, reached as `tls_only` with `query`.
fn as_tls_role(admin_url: &str, query: &str) -> String {
    let database = admin_url.rsplit('/').next().unwrap();
    let base = env("AIOPS_TEST_PG_TLS_URL");
    let server = base.rsplit_once('/').unwrap().0;
    format!("{server}/{database}?{query}")
}

fn migrate_fails(url: &str) -> String {
    let output = aiops()
        .args(["migrate", "--database-url", url])
        .env("AIOPS_POSTGRES__CONNECT_RETRY_S", "0")
        .output()
        .unwrap();
    assert!(!output.status.success(), "{url} must be refused");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_job_writes_over_verified_tls_and_refuses_what_it_cannot_verify() {
    let admin = fresh_database("tls");
    let (ca, other) = (env("AIOPS_TEST_PG_TLS_CA"), env("AIOPS_TEST_PG_OTHER_CA"));
    let plain = migrate_fails(&as_tls_role(&admin, "sslmode=disable"));
    assert!(
        plain.contains("no encryption"),
        "the server wants TLS: {plain}"
    );

    let verified = as_tls_role(&admin, &format!("sslmode=verify-full&sslrootcert={ca}"));
    let migrated = run_ok(&["migrate", "--database-url", &verified]);
    assert!(
        migrated.contains("applied 0001_feature_table.sql"),
        "{migrated}"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    simulate(
        &data,
        "10m",
        "3",
        &["--seed", "2", "--database-url", &verified],
    );
    let mut client = Client::connect(&admin, postgres::NoTls).unwrap();
    let rows: i64 = client
        .query_one("SELECT count(*) FROM otlp_ai_features", &[])
        .unwrap()
        .get(0);
    assert!(rows >= 3 * 9, "rows written over TLS: {rows}");

    let stranger = as_tls_role(&admin, &format!("sslmode=verify-full&sslrootcert={other}"));
    let refused = migrate_fails(&stranger);
    assert!(
        refused.contains("certificate verify failed"),
        "a server the CA did not sign is refused, and the reason said: {refused}"
    );
    let unreadable = migrate_fails(&as_tls_role(
        &admin,
        "sslmode=verify-ca&sslrootcert=/nonexistent.pem",
    ));
    assert!(
        unreadable.contains("sslrootcert /nonexistent.pem"),
        "{unreadable}"
    );
    let typo = migrate_fails(&as_tls_role(&admin, "sslmode=verify"));
    assert!(typo.contains("sslmode=verify: expected"), "{typo}");
}
