"""The client side of tests/bench/postgres.sh: loads `journey export` lines into a Marten-style
`mt_events` table, and times keyset scans of it with the rows decoded in the client.

    postgres_events.py load DSN EXPORT.ndjson
    postgres_events.py scan DSN CLIENTS decode|text

`load` creates the table and copies every exported event into it in the log's order, so `seq_id`
follows the journey position. Marten keeps the event body in `data` and the envelope in columns;
what journey's envelope has beyond Marten's columns (the actor, the business date, the schema
version, correlation and causation ids) goes into Marten's optional `headers` jsonb, so that a scan
decodes as much as journey's read-and-decode does.

`scan` reads the whole table in pages of 4096 rows (`WHERE seq_id > last ORDER BY seq_id LIMIT
4096`), with CLIENTS processes each scanning one contiguous share of the sequence on its own
connection, and prints `events seconds`. With `decode` every row comes back as Python objects: the
jsonb columns parsed (psycopg's default loader, `json.loads`), the uuid and the timestamp as
`uuid.UUID` and `datetime`. With `text` the same columns come back as strings, undecoded: the cost
of the scan and its transfer alone.
"""

import json
import multiprocessing
import sys
import time

import psycopg

PAGE_ROWS = 4096

SCHEMA = """
DROP TABLE IF EXISTS mt_events;
CREATE TABLE mt_events (
    seq_id      bigserial PRIMARY KEY,
    id          uuid NOT NULL,
    stream_id   varchar NOT NULL,
    version     bigint NOT NULL,
    type        varchar NOT NULL,
    data        jsonb NOT NULL,
    headers     jsonb,
    timestamp   timestamptz NOT NULL,
    CONSTRAINT pk_mt_events_stream_and_version UNIQUE (stream_id, version),
    CONSTRAINT mt_events_id UNIQUE (id)
);
"""

DECODED = (
    "SELECT seq_id, id, stream_id, version, type, data, headers, timestamp FROM mt_events "
    "WHERE seq_id > %s AND seq_id <= %s ORDER BY seq_id LIMIT %s"
)
TEXT = (
    "SELECT seq_id, id::text, stream_id, version, type, data::text, headers::text, "
    "timestamp::text FROM mt_events WHERE seq_id > %s AND seq_id <= %s ORDER BY seq_id LIMIT %s"
)


def load(dsn, export_path):
    """Copies the exported events into a fresh mt_events table; prints the rows loaded."""
    rows = 0
    with psycopg.connect(dsn) as connection:
        connection.execute(SCHEMA)
        with connection.cursor() as cursor:
            copy_sql = (
                "COPY mt_events (id, stream_id, version, type, data, headers, timestamp) "
                "FROM STDIN"
            )
            with cursor.copy(copy_sql) as copy, open(export_path, encoding="utf-8") as lines:
                for line in lines:
                    event = json.loads(line)
                    headers = {
                        "actor": event["actor"],
                        "occurred_on": event["occurred_on"],
                        "schema_version": event["version"],
                        "correlation_id": event.get("correlation_id"),
                        "causation_id": event.get("causation_id"),
                    }
                    copy.write_row(
                        (
                            event["id"],
                            event["stream"],
                            event["revision"],
                            event["type"],
                            json.dumps(event["data"]),
                            json.dumps(headers),
                            event["recorded_at"],
                        )
                    )
                    rows += 1
        connection.execute("ANALYZE mt_events")
    print(rows)


def scan_share(job):
    """Scans seq_id in (low, high] page by page; returns the rows read."""
    dsn, low, high, query = job
    rows = 0
    last = low
    with psycopg.connect(dsn) as connection:
        with connection.cursor() as cursor:
            while True:
                cursor.execute(query, (last, high, PAGE_ROWS), prepare=True)
                page = cursor.fetchall()
                if not page:
                    break
                rows += len(page)
                last = page[-1][0]
    return rows


def scan(dsn, clients, mode):
    """Scans the whole table with `clients` processes at once; prints `events seconds`."""
    with psycopg.connect(dsn) as connection:
        low, high = connection.execute(
            "SELECT coalesce(min(seq_id), 1) - 1, coalesce(max(seq_id), 0) FROM mt_events"
        ).fetchone()
    query = DECODED if mode == "decode" else TEXT
    step = -(-(high - low) // clients)
    jobs = [
        (dsn, low + part * step, min(low + (part + 1) * step, high), query)
        for part in range(clients)
    ]
    started = time.perf_counter()
    with multiprocessing.Pool(clients) as pool:
        rows = sum(pool.map(scan_share, jobs))
    elapsed = time.perf_counter() - started
    print(rows, f"{elapsed:.6f}")


def main(argv):
    if len(argv) == 4 and argv[1] == "load":
        load(argv[2], argv[3])
    elif len(argv) == 5 and argv[1] == "scan" and argv[4] in ("decode", "text"):
        scan(argv[2], int(argv[3]), argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
