"""Reads journey's Parquet exports with pyarrow and compares them with the API (see parquet.sh).

Usage: check_parquet.py JOURNEY_BIN WORK_DIR
"""

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq

BIN, WORK = sys.argv[1], sys.argv[2]
DATA = f"{WORK}/data"
AS_OF = "2025-06-30"
KPI = "population_present"

# The personal data registered below: none of it may reach an analyst's file.
PERSONS = [
    {"givenNames": "Jürgen Emre", "familyName": "Özdemir-Parkettprobe", "birthDate": "1987-03-14",
     "phone": "+49 5341 555 0142", "address": "Parkettweg 7, Salzgitter"},
    {"givenNames": "Amina", "familyName": "Haddad-Parkettprobe", "birthDate": "1991-11-05",
     "phone": "+49 5341 555 0177", "address": "Spaltenstraße 3, Salzgitter"},
]


def journey(*args, capture=True):
    result = subprocess.run([BIN, "--data-dir", DATA, *args], check=True, text=True,
                            stdout=subprocess.PIPE if capture else None)
    return result.stdout


def token(role, *extra):
    return journey("token", "create", "--role", role, *extra).strip().splitlines()[-1].split()[-1]


def post(url, bearer, query, variables=None):
    request = urllib.request.Request(
        url, data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        body = json.load(response)
    if body.get("errors"):
        sys.exit(f"GraphQL errors: {body['errors']}")
    return body["data"]


def nanoseconds(text):
    """An RFC 3339 time from GraphQL as nanoseconds since 1970, every digit kept."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    if not match:
        sys.exit(f"not an RFC 3339 time: {text}")
    zone = "+00:00" if match[3] == "Z" else match[3]
    seconds = int(datetime.fromisoformat(match[1] + zone).timestamp())
    fraction = (match[2] or "").ljust(9, "0")[:9]
    return seconds * 1_000_000_000 + int(fraction)


journey("seed", "--people", "150", "--seed", "5", "--end", AS_OF, capture=False)
caseworker = token("caseworker", "--agency", "jobcenter", "--name", "cw-parquet")
analyst = token("analyst", "--name", "analyst-parquet")

server = subprocess.Popen([BIN, "--data-dir", DATA, "serve", "--listen", "127.0.0.1:0",
                           "--rate-per-second", "0"], stdout=subprocess.DEVNULL)
try:
    for _ in range(600):
        try:
            with open(f"{DATA}/server.json", encoding="utf-8") as file:
                url = f"http://{json.load(file)['listen']}/graphql"
            break
        except (OSError, ValueError, KeyError):
            if server.poll() is not None:
                sys.exit("journey serve exited before it listened")
            time.sleep(0.1)
    else:
        sys.exit("journey serve did not listen")

    registered = []
    for number, person in enumerate(PERSONS):
        receipt = post(url, caseworker, """mutation($input: RegisterPersonInput!) {
            registerPerson(input: $input) { personId } }""", {"input": {
            "eventId": str(uuid.uuid4()), "occurredOn": "2025-06-01", "birthYear": int(person["birthDate"][:4]),
            "sex": "MALE" if number == 0 else "FEMALE", "nationality": "SYR", "languages": ["ar"],
            "personalData": person}})
        registered.append(receipt["registerPerson"]["personId"])

    api_events, after = [], None
    while True:
        page = post(url, analyst, """query($after: String) { events(first: 1000, after: $after) {
            edges { node { position person revision eventId type version occurredOn recordedAt
                           actor { pseudonym agency role } correlationId causationId data } }
            pageInfo { hasNextPage endCursor } } }""", {"after": after})["events"]
        api_events += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    measures = "dimensions { dimension value } measures { name value numerator denominator suppressed }"
    api_kpi = post(url, analyst, f"""{{ kpi(key: "{KPI}", asOf: "{AS_OF}", by: [DISTRICT]) {{
        key asOf cells {{ {measures} }} margins {{ {measures} }} total {{ {measures} }}
        metadata {{ erasedPersons }} }} }}""")["kpi"]
finally:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)

journey("export", "--format", "parquet", "--out", f"{WORK}/events.parquet")
journey("kpi", KPI, "--as-of", AS_OF, "--by", "district", "--format", "parquet",
        "--out", f"{WORK}/kpi.parquet")

# ---- the events: one row per API event, every field equal ------------------------------------
table = pq.read_table(f"{WORK}/events.parquet")
expected_columns = ["position", "person", "revision", "event_id", "type", "version", "occurred_on",
                    "recorded_at", "actor_pseudonym", "actor_agency", "actor_role", "correlation_id",
                    "causation_id", "data"]
assert table.column_names == expected_columns, table.column_names
recorded_at = table.column("recorded_at").cast(pa.int64()).to_pylist()
rows = table.drop_columns(["recorded_at"]).to_pylist()
assert len(rows) == len(api_events) > 150, (len(rows), len(api_events))
for row, at, event in zip(rows, recorded_at, api_events):
    got = {
        "position": row["position"], "person": row["person"], "revision": row["revision"],
        "eventId": row["event_id"], "type": row["type"], "version": row["version"],
        "occurredOn": row["occurred_on"].isoformat(), "recordedAt": at,
        "actor": {"pseudonym": row["actor_pseudonym"], "agency": row["actor_agency"], "role": row["actor_role"]},
        "correlationId": row["correlation_id"], "causationId": row["causation_id"],
        "data": None if row["data"] is None else json.loads(row["data"]),
    }
    want = dict(event, recordedAt=nanoseconds(event["recordedAt"]), actor={
        "pseudonym": event["actor"]["pseudonym"],
        "agency": event["actor"]["agency"] and event["actor"]["agency"].lower(),
        "role": event["actor"]["role"].lower()})
    assert got == want, f"position {row['position']}:\n file {got}\n API  {want}"
print(f"events: {len(rows)} rows equal to the analysts' events feed")

# ---- the indicator: the same figures, suppressed alike ---------------------------------------
kpi = pq.read_table(f"{WORK}/kpi.parquet").to_pylist()
assert [name for name in pq.read_schema(f"{WORK}/kpi.parquet").names] == [
    "key", "as_of", "known_at", "cell", "measure", "value", "numerator", "denominator", "suppressed",
    "erased_persons"]


def label(cell):
    if not cell["dimensions"]:
        return "total"
    return " ".join(f"{d['dimension'].lower()}={d['value']}" for d in cell["dimensions"])


want = {}
for cell in api_kpi["cells"] + api_kpi["margins"] + [api_kpi["total"]]:
    for measure in cell["measures"]:
        want[(label(cell), measure["name"])] = (
            measure["value"], measure["numerator"], measure["denominator"], measure["suppressed"])
got = {(row["cell"], row["measure"]): (row["value"], row["numerator"], row["denominator"], row["suppressed"])
       for row in kpi}
assert got == want, f"file {got}\nAPI  {want}"
assert any(suppressed for (*_, suppressed) in got.values()) or len(got) > 1
assert all(row["value"] is None for row in kpi if row["suppressed"]), "a suppressed value is a number"
assert {row["key"] for row in kpi} == {KPI} and {row["as_of"].isoformat() for row in kpi} == {AS_OF}
print(f"kpi: {len(kpi)} figures equal to the API's")

# ---- no personal data, in the bytes or in any value ------------------------------------------
secrets = [person_id.removeprefix("person-") for person_id in registered]
for person in PERSONS:
    secrets += [person["birthDate"], person["phone"], person["address"]]
    secrets += person["givenNames"].split() + person["familyName"].split("-")
for path in (f"{WORK}/events.parquet", f"{WORK}/kpi.parquet"):
    raw = open(path, "rb").read()
    values = json.dumps(pq.read_table(path).to_pylist(), default=str, ensure_ascii=False)
    for secret in secrets:
        assert secret.encode() not in raw and secret not in values, f"{path} holds {secret!r}"
print("no personal data in either file")
