#!/usr/bin/env bash
# The official KurrentDB clients against journey's gRPC endpoint (issue 9): starts
# `journey serve --demo --grpc-listen 127.0.0.1:0` on a scratch data directory, reads the gRPC
# address and the generated CA file from server.json and the demo tokens from demo-tokens.json,
# creates a caseworker token of a second agency, and runs each client over TLS with
# `?tlsCaFile=PATH`: the Python kurrentdbclient (pip, into a virtual environment under the target
# directory) and the Node @kurrent/kurrentdb-client (npm ci in tests/clients/node). The Rust client
# (the kurrentdb crate) runs the same ground in tests/tests/grpc_clients.rs.
#
# Usage: tests/clients/run.sh [path/to/journey]
# Without an argument it builds the binary with cargo (honouring CARGO_TARGET_DIR).
set -euo pipefail

KURRENTDBCLIENT_VERSION="1.3.5"

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

bin="${1:-${JOURNEY_BIN:-}}"
if [ -z "$bin" ]; then
  (cd "$root" && cargo build -p journey-api --quiet)
  bin="$target/debug/journey"
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

venv="${KURRENTDB_CLIENT_VENV:-$target/kurrentdbclient-venv}"
python="${PYTHON:-python3}"
if ! "$venv/bin/python" -c "import kurrentdbclient, importlib.metadata as m; assert m.version('kurrentdbclient') == '$KURRENTDBCLIENT_VERSION'" 2>/dev/null; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "kurrentdbclient==$KURRENTDBCLIENT_VERSION"
fi
if [ ! -d "$here/node/node_modules/@kurrent/kurrentdb-client" ]; then
  (cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error)
fi

data="$(mktemp -d)"
log="$(mktemp)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$data" "$log"
}
trap cleanup EXIT

export RUST_LOG=warn
"$bin" --data-dir "$data" serve --listen 127.0.0.1:0 --grpc-listen 127.0.0.1:0 \
  --demo --demo-people 200 --rate-per-second 0 >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [ -s "$data/server.json" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$log" >&2
    echo "journey serve exited before it listened" >&2
    exit 1
  fi
  sleep 0.1
done
[ -s "$data/server.json" ] || { cat "$log" >&2; echo "journey serve did not start" >&2; exit 1; }

field() { "$python" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$data/server.json" "$1"; }
demo_token() {
  "$python" -c "import json,sys; print(next(t['token'] for t in json.load(open(sys.argv[1])) if t['role'] == sys.argv[2]))" \
    "$data/demo-tokens.json" "$1"
}
JOURNEY_HTTP="$(field listen)"
# By name, not by 127.0.0.1: the certificate carries both, but TLS clients send only names as SNI.
JOURNEY_GRPC="localhost:$(field grpc_listen | awk -F: '{ print $NF }')"
JOURNEY_CA_FILE="$(field grpc_ca_file)"
JOURNEY_TOKEN_ADMIN="$(demo_token admin)"
JOURNEY_TOKEN_CASEWORKER="$(demo_token caseworker)"
JOURNEY_TOKEN_ANALYST="$(demo_token analyst)"
JOURNEY_TOKEN_OTHER_CASEWORKER="$("$bin" --data-dir "$data" token create --role caseworker --agency kommune --name grpc-kommune | awk 'END { print $NF }')"
export JOURNEY_HTTP JOURNEY_GRPC JOURNEY_CA_FILE JOURNEY_TOKEN_ADMIN JOURNEY_TOKEN_CASEWORKER \
  JOURNEY_TOKEN_ANALYST JOURNEY_TOKEN_OTHER_CASEWORKER
echo "journey serve: HTTP $JOURNEY_HTTP, gRPC $JOURNEY_GRPC, CA $JOURNEY_CA_FILE"

status=0
echo "--- Python kurrentdbclient $KURRENTDBCLIENT_VERSION"
"$venv/bin/python" "$here/python/conformance.py" || status=1
echo "--- Node @kurrent/kurrentdb-client"
(cd "$here/node" && node conformance.mjs) || status=1

if grep -q "panicked" "$log"; then
  cat "$log" >&2
  echo "journey serve panicked" >&2
  status=1
fi
kill -TERM "$pid"
if ! wait "$pid"; then
  cat "$log" >&2
  echo "journey serve did not stop cleanly" >&2
  status=1
fi
pid=""
exit "$status"
