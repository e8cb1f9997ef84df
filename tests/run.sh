#!/usr/bin/env bash
# The one command that runs every check of the project, on a fresh Debian machine with Rust.
#
#   bash tests/run.sh
#
# It runs: rustfmt and clippy (-D warnings), rustdoc (-D warnings), the dependency-direction
# check, and `cargo test --workspace` (unit, property, doc and integration tests) in the dev
# profile. The cargo target directory lives outside the clone ($HOME/.cache/aiops/target, or
# $CARGO_TARGET_DIR) so reruns are incremental; a cold build takes several minutes.
#
# Services: a private PostgreSQL 15 server on a free loopback port (Debian's postgresql package,
# installed if missing), in a temporary directory, stopped and removed on exit. The tests find
# it through AIOPS_TEST_DATABASE_URL. Tests of the TimescaleDB path also run when
# AIOPS_TEST_TIMESCALE_URL points at a server with the extension preloaded.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aiops/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

pg_dir=""
stop_services() {
  if [ -n "$pg_dir" ] && [ -d "$pg_dir" ]; then
    as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  fi
}
trap stop_services EXIT

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    step "installing PostgreSQL (Debian package postgresql)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  pg_dir=$(mktemp -d /tmp/aiops-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$pg_dir"
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null
  as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" \
    -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off" -w start >/dev/null
  export AIOPS_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($pg_dir)"
}

step "starting PostgreSQL"
start_postgres

step "rustfmt"
cargo fmt --all -- --check

step "clippy (-D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "dependency direction: engine below the CLI, database code only in sinks"
if cargo tree -p aiops-engine --edges normal --prefix none --locked | grep -qE '^(datafusion|clap|aiops) '; then
  echo "aiops-engine depends on datafusion, clap or the aiops binary: only the binary may" >&2
  exit 1
fi
if grep -rlE '^use (postgres|tokio_postgres)' engine/src | grep -v '^engine/src/sink/'; then
  echo "the files above use the PostgreSQL client outside engine/src/sink/" >&2
  exit 1
fi

step "rustdoc (-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "cargo test --workspace"
cargo test --workspace --locked

printf '\nall checks passed in %ss\n' "$(( $(date +%s) - started ))"
