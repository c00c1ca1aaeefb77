#!/usr/bin/env bash
# The backup benchmark: `journey backup` of a seeded store next to a plain copy of its data
# directory (`cp -r`), in one run, and the restore of that backup.
#
#   tests/bench/backup.sh [PERSONS]
#
# Seeds PERSONS (default 100000) synthetic persons into a scratch directory with `journey seed`,
# then times, each on a cold start of the command: `cp -r` of the data directory (the baseline: what
# a stopped-server file copy costs), `journey backup --out` (offline, the same code the server runs),
# and `journey restore` of it (checks, writes, verify). Prints seconds and sizes and each ratio to the
# baseline. Needs a release build (`cargo build --release -p journey-api`; JOURNEY_BIN overrides).
# The scratch directory (several GB at 100,000 persons) is removed at the end, also on failure.
set -euo pipefail

PERSONS="${1:-100000}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${JOURNEY_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/journey}"
[ -x "$BIN" ] || { echo "no journey binary at $BIN: cargo build --release -p journey-api" >&2; exit 2; }
SCRATCH="$(mktemp -d "${BENCH_TMP:-$ROOT/target}/bench-backup.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
export RUST_LOG=error
unset JOURNEY_MASTER_KEY JOURNEY_MASTER_KEY_FILE JOURNEY_ERASURE_REGISTER JOURNEY_DATA_DIR
DATA="$SCRATCH/data"
KEY=(--master-key-file "$DATA/master.key")

seconds() { # seconds COMMAND...: runs it, prints its wall time in seconds
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}
size() { du -sb "$1" | cut -f1; }

echo "seeding $PERSONS persons into $DATA ..."
"$BIN" --data-dir "$DATA" seed --people "$PERSONS" 2>/dev/null | tail -1
sync
copy_s=$(seconds cp -r "$DATA" "$SCRATCH/copy")
sync
backup_s=$(seconds "$BIN" --data-dir "$DATA" backup --out "$SCRATCH/backup")
sync
restore_s=$(seconds "$BIN" --data-dir "$SCRATCH/restored" "${KEY[@]}" restore --from "$SCRATCH/backup")
events=$(grep -o '"next_position": [0-9]*' "$SCRATCH/backup/manifest.json" | grep -o '[0-9]*$')

printf '\n%-34s %10s %14s %8s\n' "step ($PERSONS persons, $events events)" seconds bytes "x cp -r"
printf '%-34s %10.2f %14d %8.2f\n' "cp -r of the data directory" "$copy_s" "$(size "$SCRATCH/copy")" 1
printf '%-34s %10.2f %14d %8.2f\n' "journey backup" "$backup_s" "$(size "$SCRATCH/backup")" \
    "$(echo "$backup_s / $copy_s" | bc -l)"
printf '%-34s %10.2f %14d %8.2f\n' "journey restore (incl. verify)" "$restore_s" \
    "$(size "$SCRATCH/restored")" "$(echo "$restore_s / $copy_s" | bc -l)"
