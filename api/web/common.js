// What every page of journey's web interface shares: the token (pasted once, kept in the browser
// tab's sessionStorage so it is gone when the tab closes), GraphQL over HTTP and over WebSocket
// (graphql-transport-ws), German and English labels, and the CSV format of indicators (the same
// columns and cell labels as `journey kpi --format csv`).
//
// The pages talk to the public GraphQL API only, with the user's own token: they can do nothing the
// token could not do through any other client.

const TOKEN_KEY = "journey.token";
const LANG_KEY = "journey.lang";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  const trimmed = (value || "").trim().replace(/^Bearer\s+/i, "");
  if (trimmed) sessionStorage.setItem(TOKEN_KEY, trimmed);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// A GraphQL error answer, with every message and the first error's extensions (code, field, ...).
export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((error) => error.message).join("; "));
    this.errors = errors;
    this.code = errors[0]?.extensions?.code;
  }
}

// Runs a query or mutation over HTTP POST; resolves to `data`, rejects with a GraphQLError.
export async function gql(query, variables = {}) {
  const headers = { "Content-Type": "application/json", Accept: "application/graphql-response+json" };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch("/graphql", {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) throw new GraphQLError(body.errors);
  return body.data;
}

// Subscribes over graphql-transport-ws; `onData` gets each `data`, `onError` an Error. Returns a
// function that ends the subscription. The token travels in `connection_init`, because a browser
// WebSocket cannot set an Authorization header.
export function subscribe(query, variables, onData, onError = () => {}) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/graphql/ws`, "graphql-transport-ws");
  let closed = false;
  socket.addEventListener("open", () => {
    const payload = token() ? { Authorization: `Bearer ${token()}` } : {};
    socket.send(JSON.stringify({ type: "connection_init", payload }));
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "connection_ack") {
      socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables } }));
    } else if (message.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    } else if (message.type === "next") {
      if (message.payload.errors?.length) onError(new GraphQLError(message.payload.errors));
      else onData(message.payload.data);
    } else if (message.type === "error") {
      onError(new GraphQLError(message.payload));
    }
  });
  socket.addEventListener("close", (event) => {
    if (!closed && event.code !== 1000) onError(new Error(`subscription closed: ${event.code} ${event.reason}`));
  });
  return () => {
    closed = true;
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ id: "1", type: "complete" }));
    socket.close(1000);
  };
}

// ---- Labels ---------------------------------------------------------------------------------

const LABELS = {
  de: {
    "app.title": "journey: Integrationsverläufe",
    "nav.dashboard": "Monitoring",
    "nav.graphiql": "GraphiQL",
    "nav.skip": "Zum Inhalt",
    "lang.switch": "English",
    "token.label": "Zugangstoken",
    "token.save": "Übernehmen",
    "token.forget": "Vergessen",
    "token.missing": "Bitte ein Zugangstoken einfügen (journey token create …).",
    "token.signedIn": "Angemeldet als",
    "token.demo": "Demo-Token verwenden:",
    "filter.asOf": "Stichtag",
    "filter.knownAt": "Datenstand (bekannt bis)",
    "filter.knownAt.now": "leer = jetzt",
    "filter.by": "Aufschlüsselung",
    "filter.apply": "Anzeigen",
    "filter.live": "Live-Aktualisierung",
    "by.none": "keine",
    "by.district": "Bezirk",
    "by.sex": "Geschlecht",
    "by.age_band": "Altersgruppe",
    "by.nationality": "Staatsangehörigkeit",
    "by.arrival_cohort": "Ankunftsjahrgang",
    "by.years_since_arrival": "Jahre seit Ankunft",
    "by.years_since_entry": "Jahre seit Einreise",
    "by.protection_status": "Schutzstatus",
    "by.area": "Gebiet",
    "by.current_district": "aktueller Bezirk",
    "by.agency": "Stelle",
    "chart.table": "Tabelle",
    "chart.csv": "CSV",
    "chart.suppressed": "unterdrückt",
    "chart.suppressedNote": "Schraffiert: unterdrückt (zu wenige Personen), nicht null.",
    "chart.noData": "Keine Werte.",
    "chart.cell": "Zelle",
    "chart.total": "Gesamt",
    "chart.measure": "Kennzahl",
    "chart.value": "Wert",
    "chart.numerator": "Zähler",
    "chart.denominator": "Nenner",
    "chart.cut": "Stand",
    "chart.refused": "Für diese Rolle nicht sichtbar",
    "chart.employmentCurve": "Beschäftigungsquote nach Jahren seit Ankunft",
    "chart.courseWaiting": "Wartezeit auf einen Integrationskurs (Tage)",
    "chart.courseWaitingDistribution": "Verteilung der Wartezeit: Anteil der Kursbeginne nach Wochen (bis 4, 5–8, 9–13, über 13)",
    "chart.dtz": "DTZ-Ergebnisse (Anteile)",
    "chart.funnel": "Präventionskette: erreichte Stufen",
    "chart.idle": "Leerlauf nach Bezirk (Tage)",
    "chart.kitaSchool": "Kita- und Schulbesuchsquoten",
    "chart.caseload": "Fallzahl nach Stelle",
    "curve.lineBy": "Linie je",
    "report.download": "Bericht für den Rat herunterladen",
    "report.lang": "Sprache des Berichts",
    "status.loading": "Lädt …",
    "status.updated": "Aktualisiert",
    "status.live": "Live: neue Werte empfangen",
  },
  en: {
    "app.title": "journey: integration journeys",
    "nav.dashboard": "Monitoring",
    "nav.graphiql": "GraphiQL",
    "nav.skip": "Skip to content",
    "lang.switch": "Deutsch",
    "token.label": "Access token",
    "token.save": "Use",
    "token.forget": "Forget",
    "token.missing": "Paste an access token (journey token create …).",
    "token.signedIn": "Signed in as",
    "token.demo": "Use a demo token:",
    "filter.asOf": "Reporting date",
    "filter.knownAt": "Known at",
    "filter.knownAt.now": "empty = now",
    "filter.by": "Breakdown",
    "filter.apply": "Show",
    "filter.live": "Live updates",
    "by.none": "none",
    "by.district": "District",
    "by.sex": "Sex",
    "by.age_band": "Age band",
    "by.nationality": "Nationality",
    "by.arrival_cohort": "Arrival cohort",
    "by.years_since_arrival": "Years since arrival",
    "by.years_since_entry": "Years since entry",
    "by.protection_status": "Protection status",
    "by.area": "Area",
    "by.current_district": "Current district",
    "by.agency": "Agency",
    "chart.table": "Table",
    "chart.csv": "CSV",
    "chart.suppressed": "suppressed",
    "chart.suppressedNote": "Hatched: suppressed (too few persons), not zero.",
    "chart.noData": "No values.",
    "chart.cell": "Cell",
    "chart.total": "total",
    "chart.measure": "Measure",
    "chart.value": "Value",
    "chart.numerator": "Numerator",
    "chart.denominator": "Denominator",
    "chart.cut": "Cut",
    "chart.refused": "Not visible to this role",
    "chart.employmentCurve": "Employment rate by years since arrival",
    "chart.courseWaiting": "Waiting time for an integration course (days)",
    "chart.courseWaitingDistribution": "Waiting-time distribution: share of course starts by weeks waited (up to 4, 5–8, 9–13, over 13)",
    "chart.dtz": "DTZ results (shares)",
    "chart.funnel": "Prevention chain: stages reached",
    "chart.idle": "Idle time by district (days)",
    "chart.kitaSchool": "Kita and school attendance rates",
    "chart.caseload": "Caseload by agency",
    "curve.lineBy": "Line per",
    "report.download": "Download the council report",
    "report.lang": "Report language",
    "status.loading": "Loading …",
    "status.updated": "Updated",
    "status.live": "Live: new figures received",
  },
};

export function lang() {
  const stored = localStorage.getItem(LANG_KEY);
  if (stored === "de" || stored === "en") return stored;
  return (navigator.language || "").toLowerCase().startsWith("de") ? "de" : "en";
}

export function setLang(value) {
  localStorage.setItem(LANG_KEY, value);
}

// The label for `key` in the current language (the key itself when there is none, so a missing
// label shows up on screen instead of silently as an empty string).
export function t(key) {
  return LABELS[lang()][key] ?? LABELS.en[key] ?? key;
}

// Adds labels of a page's own (the workspace has its own), per language.
export function addLabels(labels) {
  for (const language of Object.keys(LABELS)) Object.assign(LABELS[language], labels[language] || {});
}

// Sets the text of every element with `data-i18n` (and `data-i18n-placeholder`, `-title`,
// `-aria-label` for those attributes).
export function applyLabels(root = document) {
  document.documentElement.lang = lang();
  for (const element of root.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const attribute of ["placeholder", "title", "aria-label"]) {
    const data = `i18n${attribute.replace(/(^|-)(\w)/g, (_, __, c) => c.toUpperCase())}`;
    for (const element of root.querySelectorAll(`[data-i18n-${attribute}]`)) {
      element.setAttribute(attribute, t(element.dataset[data]));
    }
  }
}

// Number formatting in the page's language: shares as percent, everything else as is.
export function formatValue(value, unit) {
  if (value === null || value === undefined) return "–";
  const locale = lang() === "de" ? "de-DE" : "en-GB";
  if (unit === "share") return `${(value * 100).toLocaleString(locale, { maximumFractionDigits: 1 })} %`;
  return value.toLocaleString(locale, { maximumFractionDigits: 2 });
}

// How a measure reads, as the council report decides it (api/src/report/mod.rs `scale`): measures
// named `rate…`, `…_rate`, `share…`, `reached…` or `first_attempt_share…` are shares, except SGB
// II's rate (integrations per average recipient); the rest are counts and days.
export function measureUnit(key, measure) {
  const share = measure.startsWith("rate") || measure.endsWith("_rate") || measure.startsWith("share")
    || measure.startsWith("reached") || measure.startsWith("first_attempt_share");
  return share && key !== "sgb2_integration_rate" ? "share" : "amount";
}

// ---- CSV of indicators ------------------------------------------------------------------------

// The wire name of a GraphQL dimension enum value (`AGE_BAND` -> `age_band`), as the CLI prints it.
export function dimensionName(graphqlEnum) {
  return graphqlEnum.toLowerCase();
}

// The CLI's cell label: `total`, or `dimension=value` joined by spaces.
export function cellLabel(cell) {
  if (!cell.dimensions.length) return "total";
  return cell.dimensions.map((d) => `${dimensionName(d.dimension)}=${d.value}`).join(" ");
}

function csvField(text) {
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

// Rust prints f64 with the shortest text that reads back the same, and whole numbers without a
// fraction; JavaScript's String(number) does the same for the values indicators take.
function numberText(value) {
  return value === null || value === undefined ? "" : String(value);
}

// The rows of a KPI answer as `journey kpi --format csv` writes them: cells, then margins, then
// the total; one row per measure. `result` is the GraphQL `KpiResult` with `key asOf knownAt cells
// margins total { dimensions { dimension value } measures { name value numerator denominator
// suppressed } } metadata { erasedPersons }`.
export const CSV_HEADER = "key,as_of,known_at,cell,measure,value,numerator,denominator,suppressed,erased_persons";

export function kpiCsv(result) {
  const lines = [CSV_HEADER];
  const knownAt = rfc3339(result.knownAt);
  for (const cell of [...result.cells, ...result.margins, result.total]) {
    for (const measure of cell.measures) {
      const fields = [
        result.key,
        result.asOf,
        knownAt,
        cellLabel(cell),
        measure.name,
        measure.suppressed ? "" : numberText(measure.value),
        numberText(measure.numerator),
        numberText(measure.denominator),
        String(measure.suppressed),
        String(result.metadata.erasedPersons),
      ];
      lines.push(fields.map(csvField).join(","));
    }
  }
  return `${lines.join("\n")}\n`;
}

// chrono's `to_rfc3339()`: `+00:00` rather than `Z`, and the fraction only when there is one (in
// 3, 6 or 9 digits). GraphQL sends the time as async-graphql formats it, which may differ.
export function rfc3339(text) {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!match) return text;
  let fraction = (match[2] || "").slice(1).replace(/0+$/, "");
  if (fraction) fraction = `.${fraction.padEnd(fraction.length <= 3 ? 3 : fraction.length <= 6 ? 6 : 9, "0")}`;
  const zone = match[3] === "Z" ? "+00:00" : match[3];
  return `${match[1]}${fraction}${zone}`;
}

// Offers `text` as a file download named `name`.
export function download(name, text, type = "text/csv;charset=utf-8") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---- The page frame: token bar and language switch --------------------------------------------

// Wires the token form, the demo tokens (served only by `journey serve --demo`) and the language
// button of the shared header; `onChange` runs after the token or the language changed.
export async function initShell(onChange) {
  applyLabels();
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  const who = document.getElementById("token-who");
  const showWho = async () => {
    if (!token()) {
      who.textContent = t("token.missing");
      return;
    }
    try {
      const data = await gql("{ me { role agency name } }");
      who.textContent = data.me
        ? `${t("token.signedIn")} ${data.me.role}${data.me.agency ? ` (${data.me.agency})` : ""}`
        : t("token.missing");
    } catch (error) {
      who.textContent = error.message;
    }
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setToken(input.value);
    input.value = "";
    await showWho();
    onChange();
  });
  document.getElementById("token-forget").addEventListener("click", async () => {
    setToken("");
    await showWho();
    onChange();
  });
  document.getElementById("lang-switch").addEventListener("click", async () => {
    setLang(lang() === "de" ? "en" : "de");
    applyLabels();
    await showWho();
    onChange();
  });
  const demo = document.getElementById("demo-tokens");
  const response = await fetch("/web/demo-tokens.json");
  if (response.ok) {
    const tokens = await response.json();
    demo.hidden = false;
    const list = demo.querySelector("ul");
    list.replaceChildren();
    for (const entry of tokens) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.demoRole = entry.role;
      button.textContent = entry.agency ? `${entry.role} (${entry.agency})` : entry.role;
      button.addEventListener("click", async () => {
        setToken(entry.token);
        await showWho();
        onChange();
      });
      item.append(button);
      list.append(item);
    }
  }
  await showWho();
}
