// The caseworker workspace: find a person (name, birth date or pseudonym through `findPersons`),
// see their timeline, status and consents, record the next event with a form generated from the
// event type's JSON Schema (served from the catalogue at /web/event-schemas.json), correct or
// retract an event with a reason, and open persons from the agency's idle list, course waiting
// list and caseload. Errors of the API are shown on the field their `extensions.field` names.
//
// Everything goes through the public GraphQL API with the user's token (common.js).
import { gql, GraphQLError, t, lang, addLabels, applyLabels, initShell } from "/web/common.js";

addLabels({
  de: {
    "nav.workspace": "Fallbearbeitung",
    "ws.search": "Person finden",
    "ws.name": "Name (Teile in beliebiger Reihenfolge)",
    "ws.birthDate": "Geburtsdatum",
    "ws.pseudonym": "Pseudonym",
    "ws.find": "Suchen",
    "ws.found": "Gefunden: {n}",
    "ws.noneFound": "Niemand gefunden, den Sie sehen dürfen.",
    "ws.open": "Öffnen",
    "ws.status": "Stand",
    "ws.consents": "Einwilligungen",
    "ws.noConsents": "keine",
    "ws.active": "aktiv",
    "ws.withdrawn": "widerrufen",
    "ws.record": "Nächstes Ereignis erfassen",
    "ws.correctTitle": "Ereignis korrigieren",
    "ws.eventType": "Ereignisart",
    "ws.acceptedNext": "Als Nächstes möglich",
    "ws.otherTypes": "Weitere Ereignisarten",
    "ws.correcting": "Korrektur von",
    "ws.reason": "Grund",
    "ws.occurredOn": "Datum des Ereignisses",
    "ws.save": "Speichern",
    "ws.cancel": "Abbrechen",
    "ws.saved": "Gespeichert (Nr. {n}).",
    "ws.notSaved": "Nicht gespeichert: bitte die markierten Angaben prüfen.",
    "ws.timeline": "Verlauf",
    "ws.col.revision": "Nr.",
    "ws.col.date": "Datum",
    "ws.col.type": "Ereignis",
    "ws.col.state": "Gültigkeit",
    "ws.col.data": "Angaben",
    "ws.col.actions": "Aktionen",
    "ws.correct": "Korrigieren",
    "ws.retract": "Zurücknehmen",
    "ws.retractReason": "Grund der Rücknahme",
    "ws.lists": "Listen meiner Stelle",
    "ws.idle": "Ohne Aktivität (≥ 90 Tage)",
    "ws.waiting": "Warteliste Kurse",
    "ws.caseload": "Fallbestand",
    "ws.days": "{n} Tage",
    "ws.empty": "keine Einträge",
    "ws.erased": "Personendaten gelöscht",
    "ws.required": "Pflichtangabe",
    "ws.rule": "Regel",
    "ws.suggestions": "Gültige Werte, z. B.:",
    "ws.jsonHint": "JSON",
    "ws.listHint": "durch Kommas getrennt",
    "ws.none": "–",
    "ws.stage": "Phase",
    "ws.present": "anwesend",
    "ws.district": "Bezirk",
    "ws.course": "Kurs",
    "ws.residence": "Aufenthaltsstatus",
    "ws.protection": "Schutzstatus",
    "ws.agencies": "Beteiligte Stellen",
    "ws.yes": "ja",
    "ws.no": "nein",
    "EFFECTIVE": "gültig",
    "CORRECTED": "korrigiert",
    "RETRACTED": "zurückgenommen",
  },
  en: {
    "nav.workspace": "Casework",
    "ws.search": "Find a person",
    "ws.name": "Name (parts in any order)",
    "ws.birthDate": "Date of birth",
    "ws.pseudonym": "Pseudonym",
    "ws.find": "Search",
    "ws.found": "Found: {n}",
    "ws.noneFound": "Nobody found whom you may see.",
    "ws.open": "Open",
    "ws.status": "Status",
    "ws.consents": "Consents",
    "ws.noConsents": "none",
    "ws.active": "active",
    "ws.withdrawn": "withdrawn",
    "ws.record": "Record the next event",
    "ws.correctTitle": "Correct an event",
    "ws.eventType": "Event type",
    "ws.acceptedNext": "Accepted next",
    "ws.otherTypes": "Other event types",
    "ws.correcting": "Correcting",
    "ws.reason": "Reason",
    "ws.occurredOn": "Date of the event",
    "ws.save": "Save",
    "ws.cancel": "Cancel",
    "ws.saved": "Saved (no. {n}).",
    "ws.notSaved": "Not saved: check the marked fields.",
    "ws.timeline": "Timeline",
    "ws.col.revision": "No.",
    "ws.col.date": "Date",
    "ws.col.type": "Event",
    "ws.col.state": "Standing",
    "ws.col.data": "Details",
    "ws.col.actions": "Actions",
    "ws.correct": "Correct",
    "ws.retract": "Retract",
    "ws.retractReason": "Reason for the retraction",
    "ws.lists": "My agency's lists",
    "ws.idle": "Idle (≥ 90 days)",
    "ws.waiting": "Course waiting list",
    "ws.caseload": "Caseload",
    "ws.days": "{n} days",
    "ws.empty": "no entries",
    "ws.erased": "personal data erased",
    "ws.required": "required",
    "ws.rule": "Rule",
    "ws.suggestions": "Valid values, e.g.:",
    "ws.jsonHint": "JSON",
    "ws.listHint": "separated by commas",
    "ws.none": "–",
    "ws.stage": "Stage",
    "ws.present": "present",
    "ws.district": "District",
    "ws.course": "Course",
    "ws.residence": "Residence status",
    "ws.protection": "Protection status",
    "ws.agencies": "Agencies involved",
    "ws.yes": "yes",
    "ws.no": "no",
    "EFFECTIVE": "effective",
    "CORRECTED": "corrected",
    "RETRACTED": "retracted",
  },
});

const fill = (key, n) => t(key).replace("{n}", String(n));
const $ = (id) => document.getElementById(id);

// Event types recorded through their own actions (registration with personal data, governance
// events), never through the generic form.
const NOT_IN_FORM = new Set(["PersonRegistered", "EventCorrected", "EventRetracted", "PersonalDataErased"]);

let schemas = {};
let current = null; // { id, revision, timeline, acceptedNext, ... }
let correcting = null; // the timeline event being corrected

// A random (version 4) uuid from the Web Crypto API, which, unlike crypto.randomUUID, works on
// plain-http origins other than localhost too.
function uuid() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && key !== "list") node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function openButton(personId, label) {
  const button = element("button", { type: "button", className: "open", dataset: { person: personId } }, label || t("ws.open"));
  button.addEventListener("click", () => openPerson(personId));
  return button;
}

// ---- Search ---------------------------------------------------------------------------------

async function search(event) {
  event.preventDefault();
  const status = $("search-status");
  const results = $("search-results");
  results.replaceChildren();
  status.classList.remove("error");
  const variables = {
    name: $("search-name").value.trim() || null,
    birthDate: $("search-birth-date").value || null,
    pseudonym: $("search-pseudonym").value.trim() || null,
  };
  try {
    const data = await gql(
      `query($name: String, $birthDate: Date, $pseudonym: String) {
        findPersons(name: $name, birthDate: $birthDate, pseudonym: $pseudonym, first: 50) {
          edges { node { pseudonym person { id erased personalData { givenNames familyName birthDate } } } } } }`,
      variables,
    );
    const edges = data.findPersons.edges;
    status.textContent = edges.length ? fill("ws.found", edges.length) : t("ws.noneFound");
    for (const { node } of edges) {
      const person = node.person;
      if (!person) {
        results.append(element("li", {}, node.pseudonym));
        continue;
      }
      const data = person.personalData;
      const name = data ? `${data.familyName}, ${data.givenNames}` : person.id;
      const born = data?.birthDate ? ` (${data.birthDate})` : "";
      results.append(element("li", { className: "found" }, element("span", {}, `${name}${born}`), " ", openButton(person.id)));
    }
  } catch (error) {
    status.classList.add("error");
    status.textContent = error.message;
  }
}

// ---- One person ----------------------------------------------------------------------------

const PERSON_QUERY = `query($id: ID!) { person(id: $id) {
  id revision erased
  personalData { givenNames familyName birthDate }
  status { present stage district courseStatus residenceStatus protectionStatus agencies }
  consents { consentId recipients purpose givenOn withdrawnOn active }
  timeline { eventId revision type occurredOn status data targetEventId }
}
acceptedNext(personId: $id) { eventTypes } }`;

async function openPerson(personId) {
  const section = $("person");
  section.hidden = false;
  $("person-status").textContent = "";
  try {
    const data = await gql(PERSON_QUERY, { id: personId });
    current = { ...data.person, acceptedNext: data.acceptedNext.eventTypes };
    renderPerson();
    $("person-title").focus();
  } catch (error) {
    $("person-status").textContent = error.message;
  }
}

async function reloadPerson() {
  const data = await gql(PERSON_QUERY, { id: current.id });
  current = { ...data.person, acceptedNext: data.acceptedNext.eventTypes };
  renderPerson();
}

function renderPerson() {
  const person = current;
  const data = person.personalData;
  $("person-title").textContent = data ? `${data.familyName}, ${data.givenNames}` : person.id;
  $("person").dataset.person = person.id;
  $("person").dataset.revision = String(person.revision);
  const facts = $("status-list");
  facts.replaceChildren();
  const status = person.status;
  const fact = (label, value) => facts.append(element("dt", {}, label), element("dd", {}, value ?? t("ws.none")));
  if (person.erased) fact(t("ws.erased"), t("ws.yes"));
  if (status) {
    fact(t("ws.stage"), status.stage);
    fact(t("ws.present"), status.present ? t("ws.yes") : t("ws.no"));
    fact(t("ws.district"), status.district);
    fact(t("ws.course"), status.courseStatus);
    fact(t("ws.residence"), status.residenceStatus);
    fact(t("ws.protection"), status.protectionStatus);
    fact(t("ws.agencies"), status.agencies.join(", "));
  }
  const consents = $("consent-list");
  consents.replaceChildren();
  if (!person.consents.length) consents.append(element("li", {}, t("ws.noConsents")));
  for (const consent of person.consents) {
    const state = consent.active ? t("ws.active") : `${t("ws.withdrawn")} ${consent.withdrawnOn ?? ""}`;
    consents.append(element("li", {}, `${consent.consentId}: ${consent.recipients.join(", ")} (${consent.purpose}), ${consent.givenOn}, ${state}`));
  }
  const body = $("timeline").querySelector("tbody");
  body.replaceChildren();
  for (const event of person.timeline) {
    const actions = element("td", { className: "actions" });
    const governance = NOT_IN_FORM.has(event.type);
    if (event.status === "EFFECTIVE" && !governance && !person.erased) {
      const correct = element("button", { type: "button", dataset: { action: "correct", event: event.eventId } }, t("ws.correct"));
      correct.addEventListener("click", () => startCorrection(event));
      const retract = element("button", { type: "button", dataset: { action: "retract", event: event.eventId } }, t("ws.retract"));
      retract.addEventListener("click", () => showRetract(event, actions));
      actions.append(correct, " ", retract);
    }
    body.append(element("tr", { dataset: { event: event.eventId, type: event.type, status: event.status } },
      element("td", { className: "num" }, String(event.revision)),
      element("td", {}, event.occurredOn),
      element("td", {}, event.type),
      element("td", {}, t(event.status)),
      element("td", { className: "data" }, event.data ? JSON.stringify(event.data) : t("ws.none")),
      actions));
  }
  if (!correcting) {
    fillTypes(person.acceptedNext);
    resetForm();
  }
}

// ---- The generated form ----------------------------------------------------------------------

function resolve(schema, property) {
  const ref = property.$ref;
  return ref ? schema.$defs[ref.split("/").pop()] : property;
}

function types(property) {
  return Array.isArray(property.type) ? property.type : [property.type];
}

// One input per property of the event type's schema: enumerations as selects, dates as date
// inputs, numbers, booleans as checkboxes, arrays of an enumeration as a group of checkboxes, other
// arrays as comma-separated text, nested objects as JSON text. Each has an error slot named after
// the property, where the API's error for `events[0].data.<property>` goes.
function renderFields(type, values = {}) {
  const container = $("event-fields");
  container.replaceChildren();
  const schema = schemas[type];
  if (!schema) return;
  const required = new Set(schema.required || []);
  for (const [name, raw] of Object.entries(schema.properties || {})) {
    const property = resolve(schema, raw);
    const kinds = types(property);
    const optional = !required.has(name);
    const id = `field-${name}`;
    const describedBy = `error-${name}`;
    const label = element("span", {}, optional ? name : `${name} *`);
    const value = values[name];
    let input;
    if (property.enum) {
      input = element("select", { id, "aria-describedby": describedBy, dataset: { kind: "enum", name } });
      if (optional || value === undefined) input.append(element("option", { value: "" }, t("ws.none")));
      for (const option of property.enum) input.append(element("option", { value: option }, option));
      if (value !== undefined && value !== null) input.value = value;
    } else if (kinds.includes("array")) {
      const items = resolve(schema, property.items || {});
      if (items.enum) {
        input = element("fieldset", { id, "aria-describedby": describedBy, dataset: { kind: "enum-array", name } }, element("legend", {}, label));
        for (const option of items.enum) {
          const box = element("input", { type: "checkbox", value: option, checked: Array.isArray(value) && value.includes(option) });
          input.append(element("label", { className: "inline" }, box, ` ${option}`));
        }
        container.append(input, element("span", { className: "field-error", id: describedBy, role: "alert" }));
        continue;
      }
      input = element("input", { id, "aria-describedby": describedBy, placeholder: t("ws.listHint"), dataset: { kind: "list", name } });
      if (Array.isArray(value)) input.value = value.join(", ");
    } else if (kinds.includes("boolean")) {
      input = element("input", { id, type: "checkbox", "aria-describedby": describedBy, checked: value === true, dataset: { kind: "boolean", name } });
    } else if (kinds.includes("integer") || kinds.includes("number")) {
      input = element("input", { id, type: "number", "aria-describedby": describedBy, dataset: { kind: "number", name } });
      if (property.minimum !== undefined) input.min = property.minimum;
      if (property.maximum !== undefined) input.max = property.maximum;
      if (value !== undefined && value !== null) input.value = value;
    } else if (kinds.includes("string") && property.format === "date") {
      input = element("input", { id, type: "date", "aria-describedby": describedBy, dataset: { kind: "string", name } });
      if (value) input.value = value;
    } else if (kinds.includes("string")) {
      input = element("input", { id, "aria-describedby": describedBy, dataset: { kind: "string", name } });
      if (value !== undefined && value !== null) input.value = value;
    } else {
      input = element("textarea", { id, rows: 2, "aria-describedby": describedBy, placeholder: t("ws.jsonHint"), dataset: { kind: "json", name } });
      if (value !== undefined) input.value = JSON.stringify(value);
    }
    if (!optional && input.tagName !== "FIELDSET" && input.type !== "checkbox") input.required = true;
    if (property.description) input.title = property.description;
    container.append(element("label", {}, label, input), element("span", { className: "field-error", id: describedBy, role: "alert" }));
  }
}

// The payload in wire form from the generated inputs; empty optional fields are left out.
function formData() {
  const data = {};
  for (const input of $("event-fields").querySelectorAll("[data-name]")) {
    const name = input.dataset.name;
    switch (input.dataset.kind) {
      case "enum-array":
        data[name] = [...input.querySelectorAll("input:checked")].map((box) => box.value);
        break;
      case "boolean":
        data[name] = input.checked;
        break;
      case "number":
        if (input.value !== "") data[name] = Number(input.value);
        break;
      case "list":
        if (input.value.trim()) data[name] = input.value.split(",").map((part) => part.trim()).filter(Boolean);
        break;
      case "json":
        if (input.value.trim()) {
          try {
            data[name] = JSON.parse(input.value);
          } catch {
            data[name] = input.value;
          }
        }
        break;
      default:
        if (input.value !== "") data[name] = input.value;
    }
  }
  return data;
}

function clearErrors() {
  for (const slot of document.querySelectorAll("#event-form .field-error")) slot.textContent = "";
  for (const input of document.querySelectorAll("#event-form [aria-invalid]")) input.removeAttribute("aria-invalid");
}

// Puts each GraphQL error on the field its `extensions.field` names (`events[0].data.course_id`,
// `events[0].occurredOn`, `input.replacement.data.course_id`, `input.reason`), with the rule and,
// for a code missing from a register, valid values; errors without a field go above the button.
function showErrors(error) {
  const errors = error instanceof GraphQLError ? error.errors : [{ message: error.message, extensions: {} }];
  let first = null;
  for (const entry of errors) {
    const extensions = entry.extensions || {};
    const path = extensions.field || "";
    let name = null;
    let match;
    if ((match = /(?:^|\.)data\.([a-z_0-9]+)/.exec(path))) name = match[1];
    else if (/occurredOn$/.test(path)) name = "occurredOn";
    else if (/reason$/.test(path)) name = "reason";
    const slot = (name && $(`error-${name}`)) || $("error-form");
    const input = name && (name === "reason" ? $("correct-reason") : $(`field-${name}`));
    let text = entry.message;
    if (extensions.rule) text = `${text} (${t("ws.rule")}: ${extensions.rule})`;
    if (extensions.suggestions?.length) text = `${text} ${t("ws.suggestions")} ${extensions.suggestions.join(", ")}`;
    slot.textContent = slot.textContent ? `${slot.textContent} ${text}` : text;
    slot.dataset.code = extensions.code || "";
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
  }
  $("person-status").textContent = t("ws.notSaved");
  (first || $("error-form")).focus?.();
}

// The types the rules accept next (`acceptedNext`, asked of the rules on the server) come first,
// in catalogue order, and the first of them is selected; every other type follows alphabetically,
// because a caseworker may still need one (the server then says which rule refuses it and why).
function fillTypes(acceptedNext = []) {
  const select = $("event-type");
  select.replaceChildren();
  const inForm = (name) => schemas[name] && !NOT_IN_FORM.has(name);
  const accepted = acceptedNext.filter(inForm);
  const others = Object.keys(schemas).filter((name) => inForm(name) && !accepted.includes(name)).sort();
  const group = (label, names, next) => {
    const optgroup = element("optgroup", { label, dataset: { group: next ? "accepted-next" : "other" } });
    for (const name of names) optgroup.append(element("option", { value: name, dataset: { acceptedNext: String(next) } }, name));
    select.append(optgroup);
  };
  if (accepted.length) group(t("ws.acceptedNext"), accepted, true);
  group(t("ws.otherTypes"), others, false);
  select.value = accepted[0] ?? others[0] ?? "";
}

function resetForm() {
  correcting = null;
  $("correcting").hidden = true;
  $("event-cancel").hidden = true;
  $("event-type").disabled = false;
  $("record-title").textContent = t("ws.record");
  clearErrors();
  renderFields($("event-type").value);
}

function startCorrection(event) {
  correcting = event;
  $("correcting").hidden = false;
  $("correcting-id").textContent = `${event.type} ${event.occurredOn} (${event.eventId})`;
  $("correct-reason").value = "";
  $("event-cancel").hidden = false;
  $("record-title").textContent = t("ws.correctTitle");
  $("event-type").value = event.type;
  $("event-type").disabled = true;
  $("field-occurredOn").value = event.occurredOn;
  clearErrors();
  renderFields(event.type, event.data || {});
  $("field-occurredOn").focus();
}

async function submitEvent(submitted) {
  submitted.preventDefault();
  clearErrors();
  $("person-status").textContent = "";
  const type = $("event-type").value;
  const occurredOn = $("field-occurredOn").value;
  if (!occurredOn) {
    $("error-occurredOn").textContent = t("ws.required");
    $("field-occurredOn").setAttribute("aria-invalid", "true");
    $("field-occurredOn").focus();
    return;
  }
  try {
    let revision;
    if (correcting) {
      const data = await gql(
        `mutation($input: CorrectEventInput!) { correctEvent(input: $input) { revision } }`,
        { input: {
          personId: current.id, eventId: uuid(), occurredOn, expectedRevision: current.revision,
          targetEventId: correcting.eventId, reason: $("correct-reason").value,
          replacement: { type, occurredOn, data: formData() },
        } },
      );
      revision = data.correctEvent.revision;
    } else {
      const data = await gql(
        `mutation($person: ID!, $expected: Int, $events: [EventInput!]!) {
          appendEvents(personId: $person, expectedRevision: $expected, events: $events) { revision } }`,
        { person: current.id, expected: current.revision, events: [{ eventId: uuid(), type, occurredOn, data: formData() }] },
      );
      revision = data.appendEvents.revision;
    }
    correcting = null;
    await reloadPerson();
    $("person-status").textContent = fill("ws.saved", revision);
  } catch (error) {
    showErrors(error);
  }
}

function showRetract(event, cell) {
  if (cell.querySelector("form")) return;
  const reason = element("input", { required: true, "aria-label": t("ws.retractReason"), dataset: { retractReason: event.eventId } });
  const error = element("span", { className: "field-error", role: "alert" });
  const form = element("form", { className: "retract" }, reason, element("button", { type: "submit" }, t("ws.retract")), error);
  form.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    try {
      await gql(`mutation($input: RetractEventInput!) { retractEvent(input: $input) { revision } }`, {
        input: { personId: current.id, eventId: uuid(), occurredOn: event.occurredOn, expectedRevision: current.revision, targetEventId: event.eventId, reason: reason.value },
      });
      await reloadPerson();
    } catch (failure) {
      error.textContent = failure.message;
      reason.setAttribute("aria-invalid", "true");
    }
  });
  cell.append(form);
  reason.focus();
}

// ---- The agency's lists --------------------------------------------------------------------

async function loadLists() {
  const lists = { idle: $("idle-list"), waiting: $("waiting-list"), caseload: $("caseload-list") };
  for (const list of Object.values(lists)) list.replaceChildren();
  let data;
  try {
    data = await gql(`{ me { agency }
      idleList(minDays: 90) { personId idleDays district }
      courseWaitingList { personId courseId provider daysWaiting }
      caseload { agency personCount persons } }`);
  } catch (error) {
    lists.idle.append(element("li", { className: "error" }, error.message));
    return;
  }
  const show = (list, rows) => {
    if (!rows.length) list.append(element("li", {}, t("ws.empty")));
    for (const [personId, text] of rows.slice(0, 50)) list.append(element("li", {}, openButton(personId, text)));
  };
  show(lists.idle, data.idleList.map((row) => [row.personId, `${fill("ws.days", row.idleDays)} · ${row.district ?? ""}`]));
  show(lists.waiting, data.courseWaitingList.map((row) => [row.personId, `${row.courseId} (${row.provider}) · ${fill("ws.days", row.daysWaiting)}`]));
  const own = data.caseload.filter((row) => !data.me?.agency || row.agency === data.me.agency);
  show(lists.caseload, own.flatMap((row) => row.persons.map((personId) => [personId, personId.slice(7, 15)])));
}

// ---- Start ---------------------------------------------------------------------------------

async function refresh() {
  applyLabels();
  document.documentElement.lang = lang();
  if (current) await reloadPerson().catch(() => {});
  await loadLists();
}

async function start() {
  const response = await fetch("/web/event-schemas.json");
  schemas = await response.json();
  fillTypes();
  $("event-type").addEventListener("change", () => {
    clearErrors();
    renderFields($("event-type").value);
  });
  $("event-form").addEventListener("submit", submitEvent);
  $("event-cancel").addEventListener("click", () => {
    resetForm();
    $("event-type").focus();
  });
  $("search-form").addEventListener("submit", search);
  renderFields($("event-type").value);
  await initShell(refresh);
  await refresh();
  document.body.dataset.ready = "true";
}

start();
