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

"$bin" --data-dir "$scratch/serve-data" --master-key-file "$key" serve --demo --demo-people 400 \
  --listen 127.0.0.1:0 --kpi-push-interval 1s >"$scratch/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 1200); do
  [ -s "$scratch/serve-data/server.json" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$scratch/serve.log" >&2
    echo "journey serve exited before it listened" >&2
    exit 1
  fi
  sleep 0.1
done
address="$(node -e "process.stdout.write(JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')).listen)" "$scratch/serve-data/server.json")"
export JOURNEY_URL="http://$address"

status=0
for spec in "$here"/*.spec.mjs; do
  echo "--- $(basename "$spec")"
  node "$spec" || status=1
done

kill -TERM "$pid"
if ! wait "$pid"; then
  echo "journey serve did not shut down cleanly" >&2
  status=1
fi
pid=""
exit "$status"
