#!/usr/bin/env bash
# Hostile input, fuzzed: starts `journey serve` on a scratch data directory, creates an admin token,
# and runs schemathesis in GraphQL mode against /graphql (every query and mutation of the schema,
# generated from introspection). Fails on any 5xx, on any error with the code INTERNAL or without a
# code, and on a panic in the server's log; then stops the server with SIGTERM and fails unless it
# exits cleanly.
#
# Usage: tests/hostile/schemathesis.sh [path/to/journey]
# Without an argument it builds the binary with cargo (honouring CARGO_TARGET_DIR). Schemathesis is
# installed with pip into a virtual environment under the target directory (override the place
# with SCHEMATHESIS_VENV). The run is bounded by HOSTILE_MAX_EXAMPLES per operation (default 25)
# and HOSTILE_MAX_TIME seconds in all (default 150).
set -euo pipefail

SCHEMATHESIS_VERSION="4.32.5"

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

bin="${1:-${JOURNEY_BIN:-}}"
if [ -z "$bin" ]; then
  (cd "$root" && cargo build -p journey-api --quiet)
  bin="$target/debug/journey"
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

venv="${SCHEMATHESIS_VENV:-$target/schemathesis-venv}"
python="${PYTHON:-python3}"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$venv/bin/schemathesis" --version

data="$(mktemp -d)"
work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$data" "$work"
}
trap cleanup EXIT

# RUST_BACKTRACE makes a panic visible in the log, where the check below looks for it.
export RUST_LOG=warn RUST_BACKTRACE=1
"$bin" --data-dir "$data" serve --listen 127.0.0.1:0 --rate-per-second 0 >"$work/serve.log" 2>&1 &
pid=$!

for _ in $(seq 1 300); do
  [ -s "$data/server.json" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$work/serve.log" >&2
    echo "journey serve exited before it listened" >&2
    exit 1
  fi
  sleep 0.1
done
address="$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["listen"])' "$data/server.json")"
url="http://$address/graphql"

token="$("$bin" --data-dir "$data" token create --role admin --name hostile | tail -n 1 | awk '{print $NF}')"

status=0
# One worker (the machine has two cores and the server needs one); a fixed seed so a failure
# reproduces. Schemathesis's `not_a_server_error` also counts every GraphQL `errors` entry that is
# not a query validation error as a failure (ST113), but this API answers invalid input (a bad id,
# a broken rule) exactly that way, with HTTP 200 and a code. So its verdict is not used: every
# exchange is recorded (HAR) and checked below for what is a server error here, any 5xx or an
# error with the code INTERNAL.
(cd "$work" && "$venv/bin/schemathesis" run "$url" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error \
  --continue-on-failure \
  --max-examples "${HOSTILE_MAX_EXAMPLES:-25}" \
  --max-time "${HOSTILE_MAX_TIME:-150}" \
  --workers 1 \
  --seed 20240605 \
  --generation-database none \
  --request-timeout 30 \
  --report har --report-har-path "$work/run.har" \
  --output-truncate true \
  --no-color >"$work/schemathesis.log" 2>&1) || true
tail -n 25 "$work/schemathesis.log"

"$python" - "$work/run.har" <<'PY' || status=1
import json
import sys

try:
    with open(sys.argv[1], encoding="utf-8") as file:
        entries = json.load(file)["log"]["entries"]
except (OSError, ValueError, KeyError) as error:
    sys.exit(f"schemathesis recorded no exchanges ({error}); see its output above")
if len(entries) < 100:
    sys.exit(f"schemathesis sent only {len(entries)} requests")
bad = []
codes = {}
for entry in entries:
    status = entry["response"]["status"]
    text = entry["response"].get("content", {}).get("text", "") or ""
    try:
        errors = json.loads(text).get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    for error in errors:
        code = (error.get("extensions") or {}).get("code", "NONE")
        codes[code] = codes.get(code, 0) + 1
        if code in ("INTERNAL", "NONE"):
            bad.append((status, entry["request"].get("postData", {}).get("text", ""), text))
    if status >= 500:
        bad.append((status, entry["request"].get("postData", {}).get("text", ""), text))
statuses = {}
for entry in entries:
    statuses[entry["response"]["status"]] = statuses.get(entry["response"]["status"], 0) + 1
print(f"hostile: {len(entries)} requests; statuses {dict(sorted(statuses.items()))}; error codes {dict(sorted(codes.items()))}")
for status, request, response in bad[:10]:
    print(f"SERVER ERROR {status}: {request[:400]}\n  -> {response[:400]}")
sys.exit(1 if bad else 0)
PY

if grep -q "panicked" "$work/serve.log"; then
  echo "the server panicked:" >&2
  grep -A 20 "panicked" "$work/serve.log" >&2
  status=1
fi

kill -TERM "$pid"
if ! wait "$pid"; then
  echo "journey serve did not shut down cleanly" >&2
  tail -n 50 "$work/serve.log" >&2
  status=1
fi
pid=""
exit "$status"
