#!/usr/bin/env bash
# The start benchmark: how long `journey serve` takes on an existing data directory until `/readyz`
# is 200, then the first GraphQL `kpi` queries after it (each a different query, so no cached result
# answers), then how long the shutdown takes: from SIGTERM to the "journey serve stopped" line (the
# drain, the projections' snapshot when anything was applied since it was loaded, the log's close
# and its index checkpoint, the flushes), and from SIGTERM to the process gone (the exit).
#
#   tests/bench/start.sh DATA_DIR [LABEL]
#
# DATA_DIR is a seeded data directory (`journey --data-dir DATA_DIR seed --people N --seed 7`); its
# master key comes from the environment as for any command (JOURNEY_MASTER_KEY_FILE or
# JOURNEY_MASTER_KEY). The first run on a directory without a projections snapshot catches up from
# the first event and writes one at shutdown; run it twice to measure a start with a snapshot.
# It adds an analyst token and audit entries to DATA_DIR. JOURNEY_BIN overrides the binary
# (default: the workspace's release build). Prints one line per step; the answers go to
# DATA_DIR/../start-LABEL/. START_SETTLE_SECONDS=N waits N seconds after ready before the queries
# (a settled run: the live views and the kept rows built in the background by then).
set -euo pipefail

DATA="${1:?usage: tests/bench/start.sh DATA_DIR [LABEL]}"
LABEL="${2:-run}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${JOURNEY_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/journey}"
[ -x "$BIN" ] || { echo "no binary at $BIN: cargo build --release -p journey-api" >&2; exit 1; }
OUT="$(cd "$DATA/.." && pwd)/start-$LABEL"
mkdir -p "$OUT"
LOG="$OUT/serve.log"

TOKEN=$("$BIN" --data-dir "$DATA" token create --role analyst --name "bench-start-$LABEL-$$" | awk '{print $NF}' | tail -1)
rm -f "$DATA/server.json"
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; } # seconds from $1 to $2
t0=$(now)
"$BIN" --data-dir "$DATA" serve --listen 127.0.0.1:0 --rate-per-second 0 >"$LOG" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true' EXIT
until grep -q "\"pid\": *$PID[,}]" "$DATA/server.json" 2>/dev/null; do
  sleep 0.2
  kill -0 $PID 2>/dev/null || { echo "the server exited:" >&2; cat "$LOG" >&2; exit 1; }
done
t_bound=$(now)
ADDRESS=$(grep -o '"listen": *"[^"]*"' "$DATA/server.json" | sed 's/.*"\([^"]*\)"$/\1/')
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDRESS/readyz")" = 200 ]; do
  sleep 0.5
  kill -0 $PID 2>/dev/null || { echo "the server exited:" >&2; cat "$LOG" >&2; exit 1; }
done
t_ready=$(now)
printf '%s: listening after %.1f s, ready after %.1f s (load %s)\n' "$LABEL" \
  "$(since "$t0" "$t_bound")" "$(since "$t0" "$t_ready")" "$(cut -d' ' -f1-3 /proc/loadavg)"
# The log's own timestamps (RFC 3339, UTC) as seconds since the epoch, for the phases of the start.
logged() { # PATTERN: the time of the first log line matching it
  local stamp
  stamp=$(grep -m1 "$1" "$LOG" | grep -o '^[0-9T:.-]*Z' || true)
  [ -n "$stamp" ] && date -d "$stamp" +%s.%N || echo ""
}
t_index=$(logged "the log's index is loaded")
[ -n "$t_index" ] && printf '  the ledger open (process start to its index loaded) %.1f s: %s\n' \
  "$(since "$t0" "$t_index")" "$(grep -m1 "the log's index is loaded" "$LOG" | grep -o 'events=.*')"

# The phases of the start, as the server logs them (each with its own figures).
for phase in "the data directory is open" "the projections snapshot is loaded" \
  "the projections' state is built" "the projections are started" "the server's state is built"; do
  t_phase=$(logged "$phase")
  [ -n "$t_phase" ] && printf '  %s after %.1f s: %s\n' "$phase" "$(since "$t0" "$t_phase")" \
    "$(grep -m1 "$phase" "$LOG" | grep -o '[a-z_]*=[^ ]*' | tr '\n' ' ')"
done

if [ "${START_SETTLE_SECONDS:-0}" -gt 0 ]; then
  sleep "$START_SETTLE_SECONDS"
  printf '  queried %s s after ready (load %s)\n' "$START_SETTLE_SECONDS" "$(cut -d' ' -f1-3 /proc/loadavg)"
fi
n=0
kpi() { # KEY ARGUMENTS: one kpi query, its time and the start of its answer
  n=$((n + 1))
  local body="{\"query\":\"{ kpi(key: \\\"$1\\\"$2) { total { value suppressed } } }\"}"
  local seconds
  seconds=$(curl -s -o "$OUT/$n-$1.json" -w '%{time_total}' -m 120 -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d "$body" "http://$ADDRESS/graphql")
  printf '  %2d %s%s: %.3f s  %s\n' "$n" "$1" "$2" "$seconds" "$(head -c 80 "$OUT/$n-$1.json")"
}
kpi employment_rate ", by: [DISTRICT]"
kpi employment_rate ", by: [DISTRICT]"
for key in population_present course_waiting_days dtz_b1_rate idle_days promising_applicants chain_funnel; do
  kpi "$key" ", by: [DISTRICT]"
done
for day in 2019-06-30 2021-12-31 2023-03-31; do kpi employment_rate ", by: [DISTRICT], asOf: \\\"$day\\\""; done
kpi employment_rate ", by: [DISTRICT, SEX]"
for cut in 2022-06-30T00:00:00Z 2024-01-31T00:00:00Z 2024-01-31T00:00:00Z; do
  kpi employment_rate ", by: [DISTRICT], knownAt: \\\"$cut\\\""
done
kpi idle_days ", by: [DISTRICT], knownAt: \\\"2023-06-30T00:00:00Z\\\""
printf '  resident %s, load %s\n' "$(awk '/VmRSS/ {printf "%.0f MB", $2 / 1024}' /proc/$PID/status)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"

t_stop=$(now)
kill -TERM $PID
wait $PID || true
trap - EXIT
t_gone=$(now)
t_stopped=$(logged "journey serve stopped")
printf '%s: SIGTERM to "stopped" %s s, to the process gone (exit) %.1f s\n' "$LABEL" \
  "$([ -n "$t_stopped" ] && since "$t_stop" "$t_stopped" || echo "?")" "$(since "$t_stop" "$t_gone")"
