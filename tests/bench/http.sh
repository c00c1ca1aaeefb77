#!/usr/bin/env bash
# The HTTP benchmark: `wrk` against a running `journey serve` with a seeded population.
#
#   tests/bench/http.sh [PERSONS] [DURATION_SECONDS]
#
# Seeds PERSONS (default 100000) synthetic persons into a scratch data directory with
# `journey seed`, starts `journey serve` with rate limiting off, creates an admin and an analyst
# token, and runs wrk (2 threads, 32 connections, DURATION_SECONDS each, default 10) against
#   1. `{ __typename }`: the HTTP and GraphQL stack's own limit, the baseline;
#   2. a `person` query (id, revision, status) over a fixed set of 64 person ids, admin token;
#   3. a `kpi` query for today (`population_present` by district), analyst token (suppressed).
# It prints requests per second and p99 latency of each and the ratios to the baseline, and
# checks the targets: person at least 25% of the baseline's rate, kpi-today p99 at most 20 ms.
# Needs `wrk` (Debian: apt-get install -y wrk) and a release build of `journey`
# (`cargo build --release -p journey-api`; JOURNEY_BIN overrides the path).
#
# BENCH_DATA_DIR=<dir> keeps the seeded data directory between runs: the first run seeds it (and
# marks it with `.bench-seeded-<PERSONS>`), later runs with the same PERSONS reuse it (seeding
# 100,000 persons takes minutes and ~7 GB). The script never deletes it; `rm -rf` it when done.
# Each run adds its tokens and its audit entries to it. A data directory seeded by hand
# (`journey seed`, then `touch DIR/.bench-seeded-PERSONS`) is benched with its own key:
# JOURNEY_MASTER_KEY set in the environment is used instead of the script's fixed one.
# BENCH_READY_WAITS (default 3000, 0.2 s each) bounds the wait for the projections to catch up.
set -euo pipefail

PERSONS="${1:-100000}"
DURATION="${2:-10}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="${JOURNEY_BIN:-$TARGET_DIR/release/journey}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
[ -x "$BIN" ] || { echo "no journey binary at $BIN: cargo build --release -p journey-api" >&2; exit 2; }

SCRATCH="$(mktemp -d)"
DATA="${BENCH_DATA_DIR:-$SCRATCH/data}"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
  fi
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
export JOURNEY_MASTER_KEY="${JOURNEY_MASTER_KEY:-$(printf '42%.0s' $(seq 32))}"

if [ -f "$DATA/.bench-seeded-$PERSONS" ]; then
  echo "reusing $PERSONS persons seeded in $DATA"
else
  if [ -e "$DATA" ] && [ -n "$(ls -A "$DATA" 2>/dev/null)" ]; then
    echo "$DATA is not empty and not a data directory seeded with $PERSONS persons" >&2
    exit 2
  fi
  echo "seeding $PERSONS persons into $DATA ..."
  start=$(date +%s)
  "$BIN" --data-dir "$DATA" seed --people "$PERSONS" --seed 1 >/dev/null
  touch "$DATA/.bench-seeded-$PERSONS"
  echo "seeded in $(( $(date +%s) - start )) s"
fi

ADMIN=$("$BIN" --data-dir "$DATA" token create --role admin --name "bench-admin-$$" | awk '{print $NF}' | tail -1)
ANALYST=$("$BIN" --data-dir "$DATA" token create --role analyst --name "bench-analyst-$$" | awk '{print $NF}' | tail -1)

"$BIN" --data-dir "$DATA" serve --listen 127.0.0.1:0 --rate-per-second 0 >"$SCRATCH/serve.log" 2>&1 &
SERVER_PID=$!
# Wait for the server file naming this server (a reused data directory may still hold the file of a
# server that was killed; its address is not ours).
for _ in $(seq 1200); do
  grep -q "\"pid\": *$SERVER_PID[,}]" "$DATA/server.json" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "the server exited:" >&2; cat "$SCRATCH/serve.log" >&2; exit 1; }
  sleep 0.1
done
grep -q "\"pid\": *$SERVER_PID[,}]" "$DATA/server.json" 2>/dev/null \
  || { echo "the server did not write $DATA/server.json" >&2; exit 1; }
ADDRESS=$(grep -o '"listen": *"[^"]*"' "$DATA/server.json" | sed 's/.*"\([^"]*\)"$/\1/')
URL="http://$ADDRESS/graphql"
echo "server at $URL; waiting for the projections to catch up ..."
# A store without a snapshot catches up from its first event: at a million persons, minutes.
for _ in $(seq "${BENCH_READY_WAITS:-3000}"); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDRESS/readyz" || true)
  [ "$code" = 200 ] && break
  sleep 0.2
done
[ "$code" = 200 ] || { echo "the server did not become ready" >&2; exit 1; }

# 64 person ids for the person query: the first page of `people`.
curl -s -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
  -d '{"query":"{ people(first: 64, filter: {includeAbsent: true}) { edges { cursor } } }"}' "$URL" \
  | grep -o '"cursor":"[^"]*"' | cut -d'"' -f4 >"$SCRATCH/persons.txt"
[ -s "$SCRATCH/persons.txt" ] || { echo "no persons to query" >&2; exit 1; }

# One Lua script per query: POST with a JSON body; the person query cycles through the ids.
cat >"$SCRATCH/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local ids = {}
local path = os.getenv("BENCH_PERSONS")
if path and path ~= "" then
  for line in io.lines(path) do ids[#ids + 1] = line end
end
local template = os.getenv("BENCH_BODY")
local counter = 0
request = function()
  counter = counter + 1
  local body = template
  if #ids > 0 then
    body = string.gsub(template, "PERSON_ID", ids[(counter % #ids) + 1])
  end
  return wrk.format(nil, nil, nil, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
LUA

run() {
  local name="$1" token="$2" body="$3" persons="${4:-}"
  local out
  out=$(BENCH_BODY="$body" BENCH_PERSONS="$persons" wrk -t2 -c32 -d"${DURATION}s" --latency \
    -H "Authorization: Bearer $token" -s "$SCRATCH/post.lua" "$URL" | grep '^RESULT')
  read -r _ rps p99 errors requests <<<"$out"
  printf '%-12s %10s req/s   p99 %8s ms   errors %s of %s\n' "$name" "$rps" "$p99" "$errors" "$requests" >&2
  echo "$rps $p99 $errors"
}

# Sanity: each query answers without errors before it is measured.
check() {
  local token="$1" body="$2"
  local answer
  answer=$(curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$body" "$URL")
  case "$answer" in
    *'"errors"'*) echo "query failed: $answer" >&2; exit 1 ;;
  esac
}
FIRST=$(head -1 "$SCRATCH/persons.txt")
TRIVIAL='{"query":"{ __typename }"}'
PERSON='{"query":"query($id: ID!) { person(id: $id) { id revision status { stage district } } }","variables":{"id":"PERSON_ID"}}'
KPI='{"query":"{ kpi(key: \"population_present\", by: [DISTRICT]) { total { value suppressed } cells { value suppressed } } }"}'
check "$ADMIN" "$TRIVIAL"
check "$ADMIN" "${PERSON/PERSON_ID/$FIRST}"
check "$ANALYST" "$KPI"

echo "wrk: 2 threads, 32 connections, ${DURATION} s each; $PERSONS persons" >&2
read -r base_rps base_p99 _ < <(run "__typename" "$ADMIN" "$TRIVIAL")
read -r person_rps person_p99 _ < <(run "person" "$ADMIN" "$PERSON" "$SCRATCH/persons.txt")
read -r kpi_rps kpi_p99 _ < <(run "kpi today" "$ANALYST" "$KPI")

awk -v b="$base_rps" -v p="$person_rps" -v k="$kpi_rps" -v kp="$kpi_p99" -v pp="$person_p99" -v bp="$base_p99" 'BEGIN {
  printf "\nratios to { __typename } (%.0f req/s, p99 %.2f ms):\n", b, bp
  printf "  person     %5.1f%% of the rate (target >= 25%%), p99 %.2f ms\n", 100 * p / b, pp
  printf "  kpi today  %5.1f%% of the rate, p99 %.2f ms (target <= 20 ms)\n", 100 * k / b, kp
  ok = (p / b >= 0.25) && (kp <= 20)
  print ok ? "targets met" : "TARGETS MISSED"
  exit ok ? 0 : 1
}'
