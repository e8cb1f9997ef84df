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
# Services: the tests of this slice need none. When the Kafka/PostgreSQL issue lands, this
# script installs and starts the broker and PostgreSQL on loopback and stops them on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aiops/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "rustfmt"
cargo fmt --all -- --check

step "clippy (-D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "dependency direction: the engine must not depend on the CLI's query engine or runtime"
if cargo tree -p aiops-engine --edges normal --prefix none --locked | grep -qE '^(datafusion|tokio|clap) '; then
  echo "aiops-engine depends on datafusion, tokio or clap: only the aiops binary may" >&2
  exit 1
fi

step "rustdoc (-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "cargo test --workspace"
cargo test --workspace --locked

printf '\nall checks passed in %ss\n' "$(( $(date +%s) - started ))"
