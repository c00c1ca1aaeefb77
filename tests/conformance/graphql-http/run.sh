#!/usr/bin/env bash
# GraphQL-over-HTTP conformance: starts `journey serve` on a scratch data directory, runs the
# graphql-http server audits against it (once without a token, once with an analyst token), and
# stops the server with SIGTERM. Exits non-zero if any MUST audit fails.
#
# Usage: tests/conformance/graphql-http/run.sh [path/to/journey]
# Without an argument it builds the binary with cargo (honouring CARGO_TARGET_DIR).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"

bin="${1:-${JOURNEY_BIN:-}}"
if [ -z "$bin" ]; then
  (cd "$root" && cargo build -p journey-api --quiet)
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/journey"
fi

# The audits run from this directory, so a relative path to the binary is resolved first.
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

data="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

cd "$here"
if [ ! -d node_modules/graphql-http ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

export RUST_LOG=warn
"$bin" --data-dir "$data" serve --listen 127.0.0.1:0 >"$data/serve.log" 2>&1 &
pid=$!

for _ in $(seq 1 300); do
  [ -s "$data/server.json" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$data/serve.log" >&2
    echo "journey serve exited before it listened" >&2
    exit 1
  fi
  sleep 0.1
done
address="$(node -e "process.stdout.write(JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')).listen)" "$data/server.json")"
url="http://$address/graphql"

token="$("$bin" --data-dir "$data" token create --role analyst --name conformance | tail -n 1 | awk '{print $NF}')"

status=0
node audit.mjs "$url" || status=1
JOURNEY_TOKEN="$token" node audit.mjs "$url" || status=1

kill -TERM "$pid"
if ! wait "$pid"; then
  echo "journey serve did not shut down cleanly" >&2
  status=1
fi
pid=""
exit "$status"
