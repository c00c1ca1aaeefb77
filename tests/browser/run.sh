#!/usr/bin/env bash
# Browser tests: checks that api/web/vendor/ is what the pinned npm packages contain, writes a
# council report for a seeded population with `journey report`, starts `journey serve --demo` on a
# free loopback port with a scratch data directory, and runs every tests/browser/*.spec.mjs with
# node against Debian's chromium (/usr/bin/chromium). Screenshots go to target/browser-screenshots/.
#
# Usage: tests/browser/run.sh [path/to/journey]
# Without an argument it builds the binary with cargo (honouring CARGO_TARGET_DIR).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

bin="${1:-${JOURNEY_BIN:-}}"
if [ -z "$bin" ]; then
  (cd "$root" && cargo build -p journey-api --quiet)
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/journey"
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

if [ ! -x /usr/bin/chromium ]; then
  echo "tests/browser needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)" >&2
  exit 1
fi

scratch="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

cd "$here"
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
node vendor.mjs --check

export RUST_LOG=warn
key="$scratch/master.hex"
printf '%064x' 7 >"$key"

# The council report of a seeded population, written by the CLI (report.spec.mjs opens the file).
"$bin" --data-dir "$scratch/report-data" --master-key-file "$key" seed --people 300 --seed 3 --end 2025-06-30 >/dev/null
"$bin" --data-dir "$scratch/report-data" --master-key-file "$key" report --as-of 2025-06-30 --lang both --out "$scratch/report.html"
export JOURNEY_REPORT="$scratch/report.html"

serve_data="$scratch/serve-data"
start_server() {
  rm -f "$serve_data/server.json"
  "$bin" --data-dir "$serve_data" --master-key-file "$key" serve --demo --demo-people 400 \
    --listen 127.0.0.1:0 --kpi-push-interval 1s >>"$scratch/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 1200); do
    [ -s "$serve_data/server.json" ] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$scratch/serve.log" >&2
      echo "journey serve exited before it listened" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "journey serve did not listen within two minutes" >&2
  exit 1
}
stop_server() {
  kill -TERM "$pid"
  if ! wait "$pid"; then
    echo "journey serve did not shut down cleanly" >&2
    exit 1
  fi
  pid=""
}

# The first start seeds the demo population. With the server stopped, the CLI writes the CSV of
# one indicator at a fixed cut; the dashboard's CSV download of the same question must be the
# same bytes (dashboard.spec.mjs).
start_server
stop_server
export JOURNEY_CSV_AS_OF="$(date -u +%F)"
export JOURNEY_CSV_KNOWN_AT="$(date -u +%FT%TZ)"
sleep 1
"$bin" --data-dir "$serve_data" --master-key-file "$key" kpi course_waiting_days \
  --as-of "$JOURNEY_CSV_AS_OF" --known-at "$JOURNEY_CSV_KNOWN_AT" --by district --format csv >"$scratch/cli.csv"
export JOURNEY_CLI_CSV="$scratch/cli.csv"

start_server
address="$(node -e "process.stdout.write(JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')).listen)" "$serve_data/server.json")"
export JOURNEY_URL="http://$address"

status=0
for spec in "$here"/*.spec.mjs; do
  echo "--- $(basename "$spec")"
  node "$spec" || status=1
done

stop_server
exit "$status"
