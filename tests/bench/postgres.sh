#!/usr/bin/env bash
# The PostgreSQL comparison: the same events as a journey store, in a Marten-style event table of
# PostgreSQL, read by a keyset scan with the JSON decoded in the client, next to journey's rebuild
# and read-and-decode rates of that store, all in one run.
#
#   tests/bench/postgres.sh [PERSONS]
#
# Seeds PERSONS (default 100000) synthetic persons with `journey seed` into a scratch directory,
# exports them (`journey export`, decrypted), starts a throwaway PostgreSQL cluster there (initdb,
# its own port, removed at the end, also on failure), loads the events into `mt_events` (seq_id,
# id, stream_id, version, type, data jsonb, headers jsonb, timestamp; see postgres_events.py) and
# times `SELECT ... WHERE seq_id > $last ORDER BY seq_id LIMIT 4096` pages with one client and with
# one client per core, decoded (jsonb parsed, uuid and timestamp as objects) and as plain text. Then
# `journey bench projections --seeded-dir --rates-only` on the same store prints journey's catch-up,
# rebuild and read-and-decode rates, and the script prints each next to PostgreSQL's.
#
# Installs what it needs when missing: Debian's `postgresql` (apt-get) and psycopg (pip, into a
# virtual environment under target/). Needs a release build (`cargo build --release -p
# journey-api`; JOURNEY_BIN overrides). Runs as root (PostgreSQL runs as the `postgres` user) or as
# any user who can start PostgreSQL from a directory of their own.
set -euo pipefail

PERSONS="${1:-100000}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="${JOURNEY_BIN:-$TARGET/release/journey}"
[ -x "$BIN" ] || { echo "no journey binary at $BIN: cargo build --release -p journey-api" >&2; exit 2; }
export RUST_LOG=error
unset JOURNEY_MASTER_KEY JOURNEY_MASTER_KEY_FILE JOURNEY_ERASURE_REGISTER JOURNEY_DATA_DIR

# PostgreSQL's server programs: Debian keeps them under /usr/lib/postgresql/<major>/bin.
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [ -z "$(pg_bin)" ]; then
    echo "installing Debian's postgresql ..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
PG="$(pg_bin)"
[ -x "$PG/initdb" ] || { echo "no PostgreSQL server programs under /usr/lib/postgresql" >&2; exit 2; }

VENV="$TARGET/bench-postgres-venv"
if ! "$VENV/bin/python" -c 'import psycopg' 2>/dev/null; then
    echo "installing psycopg into $VENV ..."
    python3 -m venv "$VENV" 2>/dev/null || {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$VENV"
    }
    "$VENV/bin/pip" install -q 'psycopg[binary]>=3.1,<4'
fi
PY=("$VENV/bin/python" "$HERE/postgres_events.py")

# Absolute: PostgreSQL's programs run as another user and are given paths inside it.
SCRATCH="$(cd "$(mktemp -d "${BENCH_TMP:-$TARGET}/bench-postgres.XXXXXX")" && pwd)"
CLUSTER="$SCRATCH/pg"
# Runs a PostgreSQL program as the cluster's owner: `postgres` when this is root (initdb refuses
# root), this user otherwise.
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
    if [ -f "$CLUSTER/postmaster.pid" ]; then
        as_owner "$PG/pg_ctl" -D "$CLUSTER" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

DATA="$SCRATCH/data"
KEY=(--master-key-file "$DATA/master.key")
echo "seeding $PERSONS persons into $DATA ..."
"$BIN" --data-dir "$DATA" seed --people "$PERSONS" 2>/dev/null | tail -1
"$BIN" --data-dir "$DATA" "${KEY[@]}" export --out "$SCRATCH/events.ndjson" 2>/dev/null

mkdir -p "$CLUSTER"
if [ "$(id -u)" = 0 ]; then
    # The cluster's owner must reach its directory inside the scratch one (mktemp makes it 0700).
    chmod 711 "$SCRATCH"
    chown postgres: "$CLUSTER"
fi
as_owner "$PG/initdb" -D "$CLUSTER" --auth=trust --username=bench --encoding=UTF8 >/dev/null
# A port of its own (a free one from the kernel), no socket file outside the scratch directory,
# and durability off: the load is not what is measured, and a throwaway cluster needs no fsync.
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >>"$CLUSTER/postgresql.conf" <<EOF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$CLUSTER'
shared_buffers = 1GB
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 4GB
EOF
as_owner "$PG/pg_ctl" -D "$CLUSTER" -l "$CLUSTER/server.log" -w start >/dev/null
DSN="host=127.0.0.1 port=$PORT user=bench dbname=postgres"

echo "loading the export into mt_events ..."
rows="$("${PY[@]}" load "$DSN" "$SCRATCH/events.ndjson")"
rm -f "$SCRATCH/events.ndjson"
CORES="$(nproc)"

# Each scan runs twice (the first also warms PostgreSQL's buffers); the faster run counts, as for
# journey's baselines.
best_rate() { # best_rate CLIENTS MODE: events/s of the faster of two scans
    local best=0 events seconds
    for _ in 1 2; do
        read -r events seconds < <("${PY[@]}" scan "$DSN" "$1" "$2")
        [ "$events" = "$rows" ] || { echo "scan read $events of $rows rows" >&2; exit 1; }
        best="$(echo "r = $events / $seconds; if (r > $best) r else $best" | bc -l)"
    done
    printf '%.0f' "$best"
}
pg_decode_1="$(best_rate 1 decode)"
pg_decode_n="$(best_rate "$CORES" decode)"
pg_text_1="$(best_rate 1 text)"
pg_text_n="$(best_rate "$CORES" text)"
as_owner "$PG/pg_ctl" -D "$CLUSTER" -m fast stop >/dev/null

echo "journey bench projections --rates-only on the same store ..."
journey_out="$("$BIN" --data-dir "$DATA" "${KEY[@]}" bench projections --seeded-dir "$DATA" \
    --scratch-dir "$SCRATCH" --rates-only)"
journey_rate() { # journey_rate LABEL-PREFIX: the events/s of that figure
    local line
    line="$(grep -F "$1" <<<"$journey_out" | head -1)"
    [ -n "$line" ] || { echo "no figure '$1' in:" >&2; echo "$journey_out" >&2; exit 1; }
    sed -E 's/^.{62} +([0-9]+) events\/s.*/\1/' <<<"$line"
}
j_catch_up="$(journey_rate "catch-up of the running projections")"
j_rebuild="$(journey_rate "rebuild in line")"
j_read_1="$(journey_rate "read and decode the log, one core")"
j_read_n="$(journey_rate "read and decode the log, $CORES cores")"

ratio() { echo "$1 / $2" | bc -l; }
printf '\n%-58s %10s %12s %12s\n' "$PERSONS persons, $rows events" "events/s" "x pg 1 cl." "x pg $CORES cl."
line() { printf '%-58s %10d %12.2f %12.2f\n' "$1" "$2" "$(ratio "$2" "$pg_decode_1")" "$(ratio "$2" "$pg_decode_n")"; }
line "PostgreSQL keyset scan + JSON decode, 1 client" "$pg_decode_1"
line "PostgreSQL keyset scan + JSON decode, $CORES clients" "$pg_decode_n"
line "PostgreSQL keyset scan, rows as text, 1 client" "$pg_text_1"
line "PostgreSQL keyset scan, rows as text, $CORES clients" "$pg_text_n"
line "journey read and decode the log, one core" "$j_read_1"
line "journey read and decode the log, $CORES cores" "$j_read_n"
line "journey catch-up of the running projections" "$j_catch_up"
line "journey rebuild in line (one core, then views)" "$j_rebuild"
