"""journey's gRPC endpoint through the official Python client, kurrentdbclient (from PyPI).

Run by tests/clients/run.sh, which starts `journey serve --demo --grpc-listen ...` and passes the
endpoint, the generated CA file and the tokens in the environment. Every check raises on failure;
the script exits non-zero at the first one.
"""

import json
import os
import sys
import threading
import urllib.request
import uuid

from kurrentdbclient import KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.events import CaughtUp
from kurrentdbclient.exceptions import (
    AccessDeniedError,
    KurrentDBClientError,
    NotFoundError,
    WrongCurrentVersionError,
)

GRPC = os.environ["JOURNEY_GRPC"]
CA_FILE = os.environ["JOURNEY_CA_FILE"]
HTTP = os.environ["JOURNEY_HTTP"]
TOKENS = {
    role: os.environ[f"JOURNEY_TOKEN_{role.upper()}"]
    for role in ("admin", "caseworker", "other_caseworker", "analyst")
}
RUN = uuid.uuid4().hex[:8]
# A name the vault holds and no event, stream or metadata may ever carry to an analyst.
VAULT_NAME = f"Vaultcheck{RUN}"


def client(role):
    return KurrentDBClient(
        uri=f"kurrentdb://anyone:{TOKENS[role]}@{GRPC}?tls=true&tlsCaFile={CA_FILE}"
    )


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def graphql(role, query, variables):
    request = urllib.request.Request(
        f"http://{HTTP}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {TOKENS[role]}",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    check("errors" not in body, f"GraphQL answered errors: {body}")
    return body["data"]


def event(event_type, data, metadata=None, event_id=None):
    return NewEvent(
        type=event_type,
        data=json.dumps(data).encode(),
        metadata=json.dumps(metadata or {}).encode(),
        content_type="application/json",
        id=event_id or uuid.uuid4(),
    )


def catalogue_metadata():
    return {"version": 1, "occurred_on": "2024-03-01"}


def person_registered():
    return event(
        "PersonRegistered",
        {"birth_year": 1990, "sex": "female", "nationality": "SYR", "languages": ["ar"]},
        catalogue_metadata(),
    )


def plain_streams(admin):
    stream = f"py_plain-{RUN}"
    first = [event("Noted", {"n": n}) for n in range(3)]
    admin.append_to_stream(stream, current_version=StreamState.NO_STREAM, events=first)
    forwards = admin.get_stream(stream)
    check([e.id for e in forwards] == [e.id for e in first], "forwards read returns the appended events in order")
    check([e.stream_position for e in forwards] == [0, 1, 2], "revisions count from 0")
    check(all(e.commit_position == e.prepare_position for e in forwards), "commit and prepare positions are equal")
    backwards = admin.get_stream(stream, backwards=True)
    check([e.id for e in backwards] == [e.id for e in reversed(first)], "backwards read reverses them")

    try:
        admin.append_to_stream(stream, current_version=0, events=event("Noted", {"n": 99}))
    except WrongCurrentVersionError:
        pass
    else:
        raise AssertionError("a wrong expected version raises WrongCurrentVersionError")

    # The same events again, as a client retrying after a lost answer: no duplicate.
    try:
        admin.append_to_stream(stream, current_version=StreamState.NO_STREAM, events=first)
    except WrongCurrentVersionError:
        pass
    check(len(admin.get_stream(stream)) == 3, "a retried event id is not appended twice")
    print("ok: plain stream append, read both directions, wrong expected version, retried id")
    return stream


def all_paged(admin):
    whole = list(admin.read_all(limit=12, filter_exclude=()))
    check(len(whole) >= 3, "$all holds events")
    paged = list(admin.read_all(limit=5, filter_exclude=()))
    while len(paged) < len(whole):
        last = paged[-1].commit_position
        page = [
            e
            for e in admin.read_all(commit_position=last, limit=6, filter_exclude=())
            if e.commit_position != last
        ]
        check(page, "a page after the last position is not empty while events remain")
        paged.extend(page)
    paged = paged[: len(whole)]
    check([e.id for e in paged] == [e.id for e in whole], "paging by position gives $all in order, without gaps or repeats")
    positions = [e.commit_position for e in whole]
    check(positions == sorted(set(positions)), "positions increase")
    backwards = list(admin.read_all(backwards=True, limit=3, filter_exclude=()))
    check(len(backwards) == 3, "$all reads backwards")
    print("ok: $all read and paged by position")


def catch_up(admin, stream):
    subscription = admin.subscribe_to_all(
        filter_include=[f"py_plain-{RUN}.*"],
        filter_by_stream_name=True,
        include_caught_up=True,
        timeout=60,
    )
    received = []
    caught_up = False
    appended = None
    for item in subscription:
        if isinstance(item, CaughtUp):
            check(len(received) == 3, f"the past ({len(received)} events) arrives before caught-up")
            caught_up = True
            appended = event("Noted", {"n": "live"})
            threading.Thread(
                target=admin.append_to_stream,
                args=(stream,),
                kwargs={"current_version": 2, "events": appended},
            ).start()
            continue
        check(item.stream_name == stream, "the filter lets only the run's stream through")
        received.append(item)
        if caught_up:
            check(item.id == appended.id, "the event appended after caught-up arrives live")
            break
    subscription.stop()
    print("ok: catch-up subscription to $all with a filter: past, caught-up, live")


def person_streams(caseworker, other_caseworker):
    person = uuid.uuid4()
    stream = f"person-{person}"
    caseworker.append_to_stream(stream, current_version=StreamState.NO_STREAM, events=person_registered())
    data = graphql("caseworker", "query($id: ID!) { person(id: $id) { id revision } }", {"id": str(person)})
    check(data["person"] is not None and data["person"]["revision"] == 0, f"the appended person is in GraphQL: {data}")
    print("ok: a caseworker's catalogue event appended over gRPC is in GraphQL")

    try:
        caseworker.append_to_stream(
            f"person-{uuid.uuid4()}",
            current_version=StreamState.NO_STREAM,
            events=event("ArrivalRecorded", {"origin": "abroad", "accommodation": "flat", "district": "Lebenstedt"}, catalogue_metadata()),
        )
    except KurrentDBClientError as error:
        check("PersonRegistered" in str(error), f"the refusal names the rule: {error}")
    else:
        raise AssertionError("an ArrivalRecorded before PersonRegistered is refused")
    print("ok: an invalid catalogue event is refused with the rule's message")

    elsewhere = uuid.uuid4()
    other_caseworker.append_to_stream(
        f"person-{elsewhere}", current_version=StreamState.NO_STREAM, events=person_registered()
    )
    try:
        caseworker.get_stream(f"person-{elsewhere}")
    except (AccessDeniedError, NotFoundError):
        pass
    else:
        raise AssertionError("a caseworker is refused a person of another agency")
    print("ok: a person the role may not see is refused")
    return [person, elsewhere]


def analyst_sees_no_personal_data(analyst, persons):
    registered = graphql(
        "caseworker",
        "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { personId } }",
        {
            "input": {
                "eventId": str(uuid.uuid4()),
                "occurredOn": "2024-03-01",
                "birthYear": 1985,
                "sex": "MALE",
                "nationality": "AFG",
                "languages": ["fa"],
                "personalData": {"givenNames": VAULT_NAME, "familyName": VAULT_NAME},
            }
        },
    )
    persons = persons + [registered["registerPerson"]["personId"]]
    received = bytearray()
    count = 0
    for recorded in analyst.read_all(filter_exclude=()):
        count += 1
        received += recorded.stream_name.encode() + recorded.data + recorded.metadata
    check(count > 0, "the analyst reads $all")
    for person in persons:
        check(str(person).encode() not in received, f"no real person id ({person}) reaches an analyst")
    check(VAULT_NAME.encode() not in received, "no vault data reaches an analyst")
    print(f"ok: an analyst's $all ({count} events) carries no person id and no vault data")


def main():
    admin = client("admin")
    stream = plain_streams(admin)
    all_paged(admin)
    catch_up(admin, stream)
    persons = person_streams(client("caseworker"), client("other_caseworker"))
    analyst_sees_no_personal_data(client("analyst"), persons)
    print("python kurrentdbclient: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
