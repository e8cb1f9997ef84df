#!/usr/bin/env bash
# The one command that runs every check of the project, on a fresh Debian machine with Rust.
#
#   bash tests/run.sh
#
# It runs: rustfmt and clippy (-D warnings), the structure checks (crate dependencies from
# cargo metadata, stages in flow order without circles, no source line over 120 characters),
# rustdoc (-D warnings), `cargo test --workspace` (unit, property, doc and integration tests)
# in the dev profile, and a short run of every fuzz target (fuzz/). The cargo target directory
# lives outside the clone ($HOME/.cache/aiops/target, or $CARGO_TARGET_DIR) so reruns are
# incremental; a cold build takes several minutes.
#
# Services, each on a free loopback port in a temporary directory, stopped and removed on exit:
# - a private PostgreSQL 15 server (Debian's postgresql package, installed if missing), found
#   by the tests through AIOPS_TEST_DATABASE_URL. Tests of the TimescaleDB path also run when
#   AIOPS_TEST_TIMESCALE_URL points at a server with the extension preloaded.
# - a Kafka-protocol broker: tansu (crates.io) with its SQLite storage engine, installed once
#   into $HOME/.cache/aiops/tools (about 10 minutes cold), found through
#   AIOPS_TEST_KAFKA_BROKERS. Tests create topics of their own with `aiops topics`.
# Python packages, pinned, in a virtualenv under $HOME/.cache/aiops/venv, created once, found
# through AIOPS_TEST_PYTHON: scikit-learn (the IsolationForest is checked against it), the
# OpenTelemetry Python SDK with its OTLP exporters (they send to the receivers) and selenium,
# which drives Debian's headless Chromium (chromium, chromium-driver; installed if missing)
# through the web console (screenshots in $HOME/.cache/aiops/artifacts/console/), and pandas,
# pyarrow, psycopg and nbclient, which run the notebooks (executed copies beside them).
# Public datasets: AIOPS_DATA_ROOT, else ../shared/data beside the project, else
# /work/shared/data (where the development machines keep them); without them the NAB
# reference tests check nothing, and this script warns.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aiops/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

pg_dir=""
broker_dir=""
broker_pid=""
stop_services() {
  if [ -n "$broker_pid" ]; then
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  [ -n "$broker_dir" ] && rm -rf "$broker_dir"
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
  port=$(free_port)
  as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null
  pg_tls
  as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" \
    -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on \
        -c ssl_cert_file=$pg_dir/tls/server.crt -c ssl_key_file=$pg_dir/tls/server.key" \
    -w start >/dev/null
  as_postgres "$pg_bin/psql" -q -h "$pg_dir" -p "$port" -U postgres \
    -c "CREATE ROLE tls_only SUPERUSER LOGIN" >/dev/null
  export AIOPS_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  # The role tls_only may connect over TLS only, as a managed database demands.
  export AIOPS_TEST_PG_TLS_URL="postgres://tls_only@127.0.0.1:$port/postgres"
  export AIOPS_TEST_PG_TLS_CA="$pg_dir/tls/ca.pem" AIOPS_TEST_PG_OTHER_CA="$pg_dir/tls/other-ca.pem"
  # Outage tests start and stop servers of their own with these binaries.
  export AIOPS_TEST_PG_BIN="$pg_bin"
  echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($pg_dir)"
}

# A test CA, a server certificate for 127.0.0.1 and localhost signed by it, an unrelated CA
# (to be refused), and pg_hba lines that let the role tls_only in over TLS only.
pg_tls() {
  local tls="$pg_dir/tls"
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=aiops test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=someone else" \
    -keyout "$tls/other-ca.key" -out "$tls/other-ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tls/san.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 2 -extfile "$tls/san.ext" -out "$tls/server.crt" 2>/dev/null
  chmod 600 "$tls/server.key"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$tls"
  local hba="$pg_dir/data/pg_hba.conf"
  printf 'hostssl all tls_only 127.0.0.1/32 trust\nhost all tls_only 127.0.0.1/32 reject\n' \
    | cat - "$hba" >"$hba.new"
  mv "$hba.new" "$hba"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$hba"
  return 0
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

TANSU_VERSION=0.6.0
tools="$HOME/.cache/aiops/tools"
start_broker() {
  if [ ! -x "$tools/bin/tansu" ] || ! "$tools/bin/tansu" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
    step "installing the tansu broker $TANSU_VERSION into $tools (once; about 10 minutes cold)"
    CARGO_TARGET_DIR="$HOME/.cache/aiops/tansu-build" \
      cargo install tansu --version "$TANSU_VERSION" --locked --features libsql --root "$tools" --quiet
    rm -rf "$HOME/.cache/aiops/tansu-build"
  fi
  broker_dir=$(mktemp -d /tmp/aiops-broker.XXXXXX)
  local port
  port=$(free_port)
  # The SQLite path is relative to the working directory (see ../shared/TESTING.md).
  (cd "$broker_dir" && exec "$tools/bin/tansu" broker \
      --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "sqlite://broker.db" >"$broker_dir/broker.log" 2>&1) &
  broker_pid=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.2
  done
  export AIOPS_TEST_KAFKA_BROKERS="127.0.0.1:$port"
  export AIOPS_TEST_TANSU="$tools/bin/tansu"
  echo "tansu $TANSU_VERSION on 127.0.0.1:$port ($broker_dir)"
}

SKLEARN_VERSION=1.9.1
OTEL_VERSION=1.45.2
KUBERNETES_VALIDATE_VERSION=1.37.0
SELENIUM_VERSION=4.27.1
# What the notebooks use, and nbclient to run them in a kernel.
NOTEBOOK_PACKAGES="pandas==3.1.1 pyarrow==26.0.1 psycopg[binary]==3.3.9 nbclient==0.11.0"
NOTEBOOK_PACKAGES="$NOTEBOOK_PACKAGES ipykernel==7.4.0 nbformat==5.11.1"
python_packages() {
  local venv="$HOME/.cache/aiops/venv"
  if ! "$venv/bin/python" -c "import sklearn; assert sklearn.__version__ == '$SKLEARN_VERSION'" 2>/dev/null; then
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "scikit-learn==$SKLEARN_VERSION"
  fi
  local otel_check="from importlib.metadata import version; assert version('opentelemetry-sdk') == '$OTEL_VERSION'"
  if ! "$venv/bin/python" -c "$otel_check" 2>/dev/null; then
    "$venv/bin/pip" install --quiet "opentelemetry-sdk==$OTEL_VERSION" \
      "opentelemetry-exporter-otlp-proto-grpc==$OTEL_VERSION" "opentelemetry-exporter-otlp-proto-http==$OTEL_VERSION"
  fi
  if ! "$venv/bin/kubernetes-validate" --version 2>/dev/null | grep -q "$KUBERNETES_VALIDATE_VERSION"; then
    "$venv/bin/pip" install --quiet "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  fi
  if ! "$venv/bin/python" -c "import selenium; assert selenium.__version__ == '$SELENIUM_VERSION'" 2>/dev/null; then
    "$venv/bin/pip" install --quiet "selenium==$SELENIUM_VERSION"
  fi
  local notebook_check="from importlib.metadata import version; assert version('nbclient') == '0.11.0'"
  notebook_check="$notebook_check and version('pandas') == '3.1.1'"
  if ! "$venv/bin/python" -c "$notebook_check" 2>/dev/null; then
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet $NOTEBOOK_PACKAGES
  fi
  export AIOPS_TEST_PYTHON="$venv/bin/python"
  echo "scikit-learn $SKLEARN_VERSION, the OpenTelemetry Python SDK $OTEL_VERSION," \
    "kubernetes-validate $KUBERNETES_VALIDATE_VERSION, selenium $SELENIUM_VERSION and the" \
    "notebooks' packages in $venv"
}

# The web console's browser test: Debian's Chromium and its WebDriver, driven by selenium.
browser_tools() {
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      chromium chromium-driver >/dev/null
  fi
  export AIOPS_TEST_CHROMIUM=/usr/bin/chromium
  export AIOPS_TEST_CHROMEDRIVER=/usr/bin/chromedriver
  export AIOPS_TEST_ARTIFACTS="$HOME/.cache/aiops/artifacts"
  mkdir -p "$AIOPS_TEST_ARTIFACTS"
  echo "$(chromedriver --version | cut -d' ' -f1-2); screenshots in $AIOPS_TEST_ARTIFACTS/console"
}

# The deployment files (deploy/): no container runtime here, so they are validated statically,
# the compose file by Debian's docker-compose, the Kubernetes manifests against the API schemas
# by kubernetes-validate (PyPI); tests/integration/deploy.rs checks they agree with the binary.
deploy_checks() {
  if ! command -v docker-compose >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  fi
  docker-compose -f deploy/docker-compose.yml config -q
  local manifests
  manifests=$(find deploy/k8s -name '*.yaml' ! -name kustomization.yaml | sort)
  # shellcheck disable=SC2086
  "$(dirname "$AIOPS_TEST_PYTHON")/kubernetes-validate" --strict --quiet $manifests
  echo "docker-compose $(docker-compose version --short): deploy/docker-compose.yml valid;" \
    "$(echo "$manifests" | wc -l) Kubernetes manifests valid (kubernetes-validate --strict)"
}

# Coverage-guided fuzzing (fuzz/README.md): cargo-afl from crates.io and AFL++ built for this
# rustc, once, into $HOME/.cache/aiops/tools; targets built in $HOME/.cache/aiops/fuzz-target.
# Each target runs briefly on its seeds; any crash fails the run and names its input.
AFL_VERSION=0.18.2
fuzz_smoke() {
  export PATH="$tools/bin:$PATH"
  if ! cargo afl --version 2>/dev/null | grep -q "$AFL_VERSION"; then
    echo "installing cargo-afl $AFL_VERSION into $tools (once)"
    CARGO_TARGET_DIR="$HOME/.cache/aiops/afl-build" \
      cargo install cargo-afl --version "$AFL_VERSION" --locked --root "$tools" --quiet
    rm -rf "$HOME/.cache/aiops/afl-build"
  fi
  # Builds AFL++ for this rustc the first time; says "already built" (an error) afterwards.
  cargo afl config --build >/dev/null 2>&1 || true
  (cd fuzz && CARGO_TARGET_DIR="$HOME/.cache/aiops/fuzz-target" cargo afl build --release --locked --quiet)
  local out target name seeds crashes
  out=$(mktemp -d /tmp/aiops-fuzz.XXXXXX)
  for target in decode_proto:proto decode_json:json http_receiver:http grpc_receiver:grpc; do
    name=${target%%:*}
    seeds=${target##*:}
    AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 \
      cargo afl fuzz -V "${FUZZ_SECONDS:-10}" -i "fuzz/seeds/$seeds" -o "$out/$name" \
      "$HOME/.cache/aiops/fuzz-target/release/$name" >"$out/$name.log" 2>&1 \
      || { tail -n 20 "$out/$name.log" >&2; echo "fuzz target $name did not run" >&2; exit 1; }
    crashes=$(find "$out/$name/default/crashes" -type f -name 'id:*' | wc -l)
    echo "$name: $(awk -F': *' '/^execs_done/ {print $2}' "$out/$name/default/fuzzer_stats") runs, $crashes crashes"
    if [ "$crashes" -gt 0 ]; then
      echo "fuzz target $name crashed; inputs kept in $out/$name/default/crashes" >&2
      exit 1
    fi
  done
  rm -rf "$out"
}

# Prometheus and Alertmanager from Debian's packages: the integration tests start them with the
# compose stack's own files (deploy/), addresses rewritten for loopback. Installing the packages
# must not leave their system services running: the tests choose their own ports.
monitoring_tools() {
  if [ ! -x /usr/bin/prometheus ] || [ ! -x /usr/bin/prometheus-alertmanager ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends prometheus prometheus-alertmanager >/dev/null
  fi
  export AIOPS_TEST_PROMETHEUS=/usr/bin/prometheus
  export AIOPS_TEST_ALERTMANAGER=/usr/bin/prometheus-alertmanager
  echo "$(prometheus --version 2>&1 | head -n 1)"
  promtool check config deploy/prometheus.yml >/dev/null
  amtool check-config deploy/alertmanager.yml >/dev/null
  echo "deploy/prometheus.yml and deploy/alertmanager.yml valid (promtool, amtool)"
}

# The public datasets (NAB, ASD, Nezha) are not in the repository: the NAB and ASD reference tests
# read them from AIOPS_DATA_ROOT, else from ../shared/data beside the project. Say which, so a
# run that skips them says so here rather than passing quietly.
find_data() {
  local candidate
  for candidate in "${AIOPS_DATA_ROOT:-}" "$PWD/../shared/data" /work/shared/data; do
    if [ -n "$candidate" ] && [ -f "$candidate/nab/labels/combined_windows.json" ]; then
      AIOPS_DATA_ROOT=$(cd "$candidate" && pwd)
      export AIOPS_DATA_ROOT
      echo "public datasets in $AIOPS_DATA_ROOT: the NAB and ASD reference tests run"
      return
    fi
  done
  echo "WARNING: public datasets not found (set AIOPS_DATA_ROOT): the NAB and ASD reference tests check nothing" >&2
}

step "public datasets"
find_data
step "Python packages for the model checks"
python_packages
step "starting PostgreSQL"
start_postgres
step "starting the Kafka-protocol broker"
start_broker
step "Prometheus and Alertmanager (Debian packages)"
monitoring_tools
step "Chromium and its WebDriver (Debian packages) for the web console"
browser_tools

step "rustfmt"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check

step "clippy (-D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "structure: crate dependencies, stages in flow order, no circles, line length"
# jobs -> bench -> engine -> models, from cargo metadata; nothing in the product depends on
# the benchmark crate or the binary.
python3 tests/check_dependencies.py
# Inside a crate, a module imports only from stages before it and from the leaves.
python3 tests/check_layers.py
if grep -rlE '^use (postgres|tokio_postgres)' engine/src | grep -v '^engine/src/sink/'; then
  echo "the files above use the PostgreSQL client outside engine/src/sink/" >&2
  exit 1
fi
# Long help texts live in text files (include_str!); source lines stay readable.
long_lines=$(find engine models jobs bench tests sql .ci fuzz/targets Cargo.toml -type f \
  \( -name '*.rs' -o -name '*.toml' -o -name '*.sql' -o -name '*.sh' -o -name '*.py' \) \
  -exec awk 'length($0) > 120 { print FILENAME ":" FNR ": " length($0) " characters" }' {} +)
if [ -n "$long_lines" ]; then
  echo "$long_lines" >&2
  echo "source lines over 120 characters (move long texts into files)" >&2
  exit 1
fi

step "deployment files"
deploy_checks

step "rustdoc (-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "cargo test --workspace"
cargo test --workspace --locked

step "fuzz smoke run: every target of fuzz/ for ${FUZZ_SECONDS:-10} s on its seeds"
fuzz_smoke

printf '\nall checks passed in %ss\n' "$(( $(date +%s) - started ))"
