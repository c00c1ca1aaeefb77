#!/usr/bin/env bash
# The restore drill of .ci/run: seed a small store, back it up, restore it into a new directory,
# verify the copy and compare its export with the original's. What an operator should rehearse.
# Usage: tests/drill/restore.sh [path/to/journey]
set -euo pipefail

journey=${1:-target/debug/journey}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export RUST_LOG=error
unset JOURNEY_MASTER_KEY JOURNEY_MASTER_KEY_FILE JOURNEY_ERASURE_REGISTER JOURNEY_DATA_DIR

"$journey" --data-dir "$scratch/data" seed --people 50 --seed 15 2>/dev/null
"$journey" --data-dir "$scratch/data" backup --out "$scratch/backup"
"$journey" --data-dir "$scratch/restored" --master-key-file "$scratch/data/master.key" \
    restore --from "$scratch/backup"
"$journey" --data-dir "$scratch/restored" --master-key-file "$scratch/data/master.key" verify
"$journey" --data-dir "$scratch/data" export --format ndjson >"$scratch/original.ndjson"
"$journey" --data-dir "$scratch/restored" --master-key-file "$scratch/data/master.key" \
    export --format ndjson >"$scratch/restored.ndjson"
cmp "$scratch/original.ndjson" "$scratch/restored.ndjson"
echo "restore drill: the restored copy verifies and exports the same $(wc -l <"$scratch/original.ndjson") events"
