// journey's gRPC endpoint through the official Node client, @kurrent/kurrentdb-client (from npm).
//
// Run by tests/clients/run.sh, which starts `journey serve --demo --grpc-listen ...` and passes the
// endpoint, the generated CA file and the tokens in the environment. Every check throws on failure;
// the script exits non-zero at the first one.

import { randomUUID } from "node:crypto";
import assert from "node:assert/strict";

import {
  AccessDeniedError,
  BACKWARDS,
  END,
  FORWARDS,
  KurrentDBClient,
  NO_STREAM,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  jsonEvent,
  streamNameFilter,
} from "@kurrent/kurrentdb-client";

const GRPC = process.env.JOURNEY_GRPC;
const CA_FILE = process.env.JOURNEY_CA_FILE;
const HTTP = process.env.JOURNEY_HTTP;
const TOKENS = Object.fromEntries(
  ["admin", "caseworker", "other_caseworker", "analyst"].map((role) => [
    role,
    process.env[`JOURNEY_TOKEN_${role.toUpperCase()}`],
  ]),
);
const RUN = randomUUID().slice(0, 8);
// A name the vault holds and no event, stream or metadata may ever carry to an analyst.
const VAULT_NAME = `Vaultcheck${RUN}`;

const client = (role) =>
  KurrentDBClient.connectionString(
    `kurrentdb://anyone:${TOKENS[role]}@${GRPC}?tls=true&tlsCaFile=${CA_FILE}`,
  );

async function graphql(role, query, variables) {
  const response = await fetch(`http://${HTTP}/graphql`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Authorization: `Bearer ${TOKENS[role]}`,
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, `GraphQL answered errors: ${JSON.stringify(body)}`);
  return body.data;
}

const noted = (n, id = randomUUID()) => jsonEvent({ id, type: "Noted", data: { n } });
const catalogueMetadata = { version: 1, occurred_on: "2024-03-01" };
const personRegistered = () =>
  jsonEvent({
    type: "PersonRegistered",
    data: { birth_year: 1990, sex: "female", nationality: "SYR", languages: ["ar"] },
    metadata: catalogueMetadata,
  });

async function collect(iterable) {
  const items = [];
  for await (const item of iterable) items.push(item);
  return items;
}

async function plainStreams(admin) {
  const stream = `node_plain-${RUN}`;
  const first = [0, 1, 2].map((n) => noted(n));
  await admin.appendToStream(stream, first, { streamState: NO_STREAM });
  const forwards = await collect(admin.readStream(stream, { direction: FORWARDS, fromRevision: START }));
  assert.deepEqual(forwards.map((e) => e.event.id), first.map((e) => e.id), "forwards read in order");
  assert.deepEqual(forwards.map((e) => e.event.revision), [0n, 1n, 2n], "revisions count from 0");
  const backwards = await collect(admin.readStream(stream, { direction: BACKWARDS, fromRevision: END }));
  assert.deepEqual(backwards.map((e) => e.event.id), first.map((e) => e.id).reverse(), "backwards read reverses");

  await assert.rejects(
    admin.appendToStream(stream, noted(99), { streamState: 0n }),
    WrongExpectedVersionError,
    "a wrong expected version rejects with WrongExpectedVersionError",
  );
  // The same events again, as a client retrying after a lost answer: no duplicate.
  await admin.appendToStream(stream, first, { streamState: NO_STREAM }).catch((error) => {
    if (!(error instanceof WrongExpectedVersionError)) throw error;
  });
  const after = await collect(admin.readStream(stream));
  assert.equal(after.length, 3, "a retried event id is not appended twice");
  console.log("ok: plain stream append, read both directions, wrong expected version, retried id");
  return stream;
}

async function allPaged(admin) {
  const whole = await collect(admin.readAll({ maxCount: 12 }));
  assert.ok(whole.length >= 3, "$all holds events");
  const paged = await collect(admin.readAll({ maxCount: 5 }));
  while (paged.length < whole.length) {
    const last = paged[paged.length - 1].event.position;
    const page = (await collect(admin.readAll({ fromPosition: last, maxCount: 6 }))).filter(
      (e) => e.event.position.commit !== last.commit,
    );
    assert.ok(page.length > 0, "a page after the last position is not empty while events remain");
    paged.push(...page);
  }
  assert.deepEqual(
    paged.slice(0, whole.length).map((e) => e.event.id),
    whole.map((e) => e.event.id),
    "paging by position gives $all in order, without gaps or repeats",
  );
  const backwards = await collect(admin.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 3 }));
  assert.equal(backwards.length, 3, "$all reads backwards");
  console.log("ok: $all read and paged by position");
}

async function catchUp(admin, stream) {
  const subscription = admin.subscribeToAll({
    fromPosition: START,
    filter: streamNameFilter({ prefixes: [`node_plain-${RUN}`] }),
  });
  const received = [];
  let live;
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the subscription did not deliver within 60 s")), 60_000);
    subscription.on("caughtUp", () => {
      if (live) return;
      try {
        assert.equal(received.length, 3, "the past arrives before caught-up");
      } catch (error) {
        reject(error);
        return;
      }
      live = noted("live");
      admin.appendToStream(stream, live, { streamState: 2n }).catch(reject);
    });
    subscription.on("data", (resolved) => {
      received.push(resolved);
      if (live && resolved.event.id === live.id) {
        clearTimeout(timer);
        resolve();
      }
    });
    subscription.on("error", reject);
  });
  await done;
  await subscription.unsubscribe();
  assert.ok(received.every((e) => e.event.streamId === stream), "the filter lets only the run's stream through");
  console.log("ok: catch-up subscription to $all with a filter: past, caught-up, live");
}

async function personStreams(caseworker, otherCaseworker) {
  const person = randomUUID();
  await caseworker.appendToStream(`person-${person}`, personRegistered(), { streamState: NO_STREAM });
  const data = await graphql("caseworker", "query($id: ID!) { person(id: $id) { id revision } }", { id: person });
  assert.equal(data.person?.revision, 0, `the appended person is in GraphQL: ${JSON.stringify(data)}`);
  console.log("ok: a caseworker's catalogue event appended over gRPC is in GraphQL");

  const arrival = jsonEvent({
    type: "ArrivalRecorded",
    data: { origin: "abroad", accommodation: "flat", district: "Lebenstedt" },
    metadata: catalogueMetadata,
  });
  await assert.rejects(
    caseworker.appendToStream(`person-${randomUUID()}`, arrival, { streamState: NO_STREAM }),
    (error) => /PersonRegistered/.test(error.message),
    "an ArrivalRecorded before PersonRegistered is refused with the rule's message",
  );
  console.log("ok: an invalid catalogue event is refused with the rule's message");

  const elsewhere = randomUUID();
  await otherCaseworker.appendToStream(`person-${elsewhere}`, personRegistered(), { streamState: NO_STREAM });
  await assert.rejects(
    collect(caseworker.readStream(`person-${elsewhere}`)),
    (error) => error instanceof AccessDeniedError || error instanceof StreamNotFoundError,
    "a caseworker is refused a person of another agency",
  );
  console.log("ok: a person the role may not see is refused");
  return [person, elsewhere];
}

async function analystSeesNoPersonalData(analyst, persons) {
  const registered = await graphql(
    "caseworker",
    "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { personId } }",
    {
      input: {
        eventId: randomUUID(),
        occurredOn: "2024-03-01",
        birthYear: 1985,
        sex: "MALE",
        nationality: "AFG",
        languages: ["fa"],
        personalData: { givenNames: VAULT_NAME, familyName: VAULT_NAME },
      },
    },
  );
  const all = [...persons, registered.registerPerson.personId];
  let received = "";
  let count = 0;
  for await (const resolved of analyst.readAll()) {
    count += 1;
    const { streamId, data, metadata } = resolved.event;
    received += streamId + JSON.stringify(data ?? null) + JSON.stringify(metadata ?? null);
  }
  assert.ok(count > 0, "the analyst reads $all");
  for (const person of all) {
    assert.ok(!received.includes(person), `no real person id (${person}) reaches an analyst`);
  }
  assert.ok(!received.includes(VAULT_NAME), "no vault data reaches an analyst");
  console.log(`ok: an analyst's $all (${count} events) carries no person id and no vault data`);
}

const clients = ["admin", "caseworker", "other_caseworker", "analyst"].map(client);
try {
  const [admin, caseworker, otherCaseworker, analyst] = clients;
  const stream = await plainStreams(admin);
  await allPaged(admin);
  await catchUp(admin, stream);
  const persons = await personStreams(caseworker, otherCaseworker);
  await analystSeesNoPersonalData(analyst, persons);
  console.log("node @kurrent/kurrentdb-client: all checks passed");
} catch (error) {
  console.error(`FAILED: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await Promise.all(clients.map((c) => c.dispose()));
}
