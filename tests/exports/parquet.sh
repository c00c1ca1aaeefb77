#!/usr/bin/env bash
# The analysts' Parquet files, read by an independent reader (pyarrow): seeds a small population,
# registers persons with names and birth dates over the API, reads the pseudonymised `events` feed
# and an indicator as an analyst, stops the server, exports both with `journey export --format
# parquet` and `journey kpi … --format parquet`, and checks (check_parquet.py) that the files hold
# the same events and the same figures as the API, and none of the personal data.
#
# Usage: tests/exports/parquet.sh [path/to/journey]
# pyarrow is installed with pip into a virtual environment under the target directory (override
# the place with PARQUET_VENV).
set -euo pipefail

PYARROW_VERSION="22.0.0"

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

bin="${1:-${JOURNEY_BIN:-}}"
if [ -z "$bin" ]; then
  (cd "$root" && cargo build -p journey-api --quiet)
  bin="$target/debug/journey"
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

venv="${PARQUET_VENV:-$target/parquet-venv}"
python="${PYTHON:-python3}"
if ! "$venv/bin/python" -c "import pyarrow, sys; sys.exit(pyarrow.__version__ != '$PYARROW_VERSION')" 2>/dev/null; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "pyarrow==$PYARROW_VERSION"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" "$here/check_parquet.py" "$bin" "$work"
