// The monitoring dashboard at `/`: indicators of the KPI catalogue for a reporting date and a
// `known at` cut, broken down by one dimension, drawn as SVG charts with their numbers as a table
// on demand and as CSV. Everything comes from the public GraphQL API with the user's token; with
// no `known at` the charts follow `kpiChanged` and redraw when new records change them.
//
// Every chart declares what it draws in `data-draws` (per indicator: the measures, and whether
// the cells, the total or both) and the queries it ran in `data-queries`, so the browser tests can
// ask the API the same questions and compare every drawn point.

import {
  applyLabels, cellLabel, download, formatValue, gql, initShell, kpiCsv, lang, measureUnit, subscribe, t, token,
} from "/web/common.js";
import { barChart, legend, lineChart } from "/web/charts.js";

const KPI_FIELDS = `
  key asOf knownAt by suppressionK
  cells { ...cell } margins { ...cell } total { ...cell }
  metadata { erasedPersons unknownBirthYearExcluded }`;
const CELL_FRAGMENT = `
  fragment cell on KpiCell {
    dimensions { dimension value }
    measures { name value numerator denominator suppressed }
  }`;
const KPI_QUERY = `query Kpi($key: String!, $asOf: Date, $knownAt: DateTime, $by: [Dimension!]) {
  kpi(key: $key, asOf: $asOf, knownAt: $knownAt, by: $by) { ${KPI_FIELDS} }
} ${CELL_FRAGMENT}`;
const KPI_SUBSCRIPTION = `subscription Live($key: String!, $asOf: Date, $by: [Dimension!]) {
  kpiChanged(key: $key, asOf: $asOf, by: $by) { ${KPI_FIELDS} }
} ${CELL_FRAGMENT}`;
const CASELOAD_QUERY = `query Caseload($asOf: Date, $knownAt: DateTime) {
  caseload(asOf: $asOf, knownAt: $knownAt) { agency personCount }
}`;

const breakdown = (filters) => (filters.by ? [filters.by] : []);

// The charts. `queries` gives the indicator questions for the current filters; `draws` what of
// each answer is drawn: its measures, from the cells, the total or both.
const CHARTS = [
  {
    id: "employment-curve",
    title: "chart.employmentCurve",
    kind: "line",
    unit: "share",
    queries: (filters) => [{ key: "employment_by_years_since_arrival", by: [filters.curveBy] }],
    // A curve has no point where the rate is undefined (nobody of that cohort in that year).
    draws: [{ kpi: "employment_by_years_since_arrival", rows: "cells", measures: ["rate"], skipsUndefined: true }],
  },
  {
    id: "course-waiting",
    title: "chart.courseWaiting",
    kind: "bars",
    unit: "days",
    queries: (filters) => [{ key: "course_waiting_days", by: breakdown(filters) }],
    draws: [{ kpi: "course_waiting_days", rows: "both", measures: ["median_days", "p75_days"] }],
  },
  {
    // The distribution of the waiting days as a histogram per cell: the shares of the course
    // starts in each band of weeks, as the API answers them (the bands are suppressed together).
    id: "course-waiting-distribution",
    title: "chart.courseWaitingDistribution",
    kind: "bars",
    unit: "share",
    queries: (filters) => [{ key: "course_waiting_days", by: breakdown(filters) }],
    draws: [{
      kpi: "course_waiting_days",
      rows: "both",
      measures: ["share_waited_0_to_28_days", "share_waited_29_to_56_days", "share_waited_57_to_91_days", "share_waited_over_91_days"],
    }],
  },
  {
    id: "dtz",
    title: "chart.dtz",
    kind: "bars",
    unit: "share",
    queries: (filters) => [{ key: "dtz_b1_rate", by: breakdown(filters) }],
    draws: [{ kpi: "dtz_b1_rate", rows: "both", measures: ["share_b1_or_better", "share_a2", "share_below_a2"] }],
  },
  {
    id: "funnel",
    title: "chart.funnel",
    kind: "stages",
    unit: "share",
    queries: () => [{ key: "chain_funnel", by: [] }],
    draws: [{
      kpi: "chain_funnel",
      rows: "total",
      measures: ["reached_arrival", "reached_entitlement", "reached_course", "reached_b1", "reached_measure_or_training", "reached_employment"],
    }],
  },
  {
    id: "idle",
    title: "chart.idle",
    kind: "bars",
    unit: "days",
    queries: () => [{ key: "idle_days", by: ["DISTRICT"] }],
    draws: [{ kpi: "idle_days", rows: "both", measures: ["median_days", "p75_days"] }],
  },
  {
    id: "kita-school",
    title: "chart.kitaSchool",
    kind: "bars",
    unit: "share",
    queries: (filters) => [
      { key: "kita_rate", by: breakdown(filters) },
      { key: "school_rate", by: breakdown(filters) },
    ],
    draws: [
      { kpi: "kita_rate", rows: "both", measures: ["rate_0_2", "rate_3_5"] },
      { kpi: "school_rate", rows: "both", measures: ["rate"] },
    ],
  },
];

const state = {
  filters: null,
  results: new Map(), // chart id -> [KpiResult] in the order of its queries
  caseload: null,
  unsubscribe: [],
};

function readFilters() {
  const knownAt = document.getElementById("known-at").value;
  return {
    asOf: document.getElementById("as-of").value,
    knownAt: knownAt ? new Date(knownAt).toISOString() : null,
    by: document.getElementById("by").value || null,
    curveBy: document.getElementById("curve-by").value,
  };
}

function setStatus(text, error = false) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("error", error);
}

// The row label of a cell: its values joined by ` · `, or "total".
function rowLabel(cell) {
  return cell.dimensions.length ? cell.dimensions.map((d) => d.value).join(" · ") : t("chart.total");
}

function point(result, cell, measureName, unit) {
  const measure = cell.measures.find((m) => m.name === measureName);
  return {
    kpi: result.key,
    cell: cellLabel(cell),
    measure: measureName,
    value: measure?.value ?? null,
    suppressed: Boolean(measure?.suppressed),
    unit,
  };
}

function rowsOf(result, rows) {
  if (rows === "total") return [result.total];
  if (rows === "cells") return result.cells;
  return [...result.cells, result.total];
}

function drawChart(spec, results) {
  const title = t(spec.title);
  if (spec.kind === "line") {
    const [result] = results;
    const seriesDimension = result.by[1];
    const series = new Map();
    for (const cell of result.cells) {
      const x = Number(cell.dimensions[0].value);
      if (!Number.isFinite(x)) continue;
      const name = cell.dimensions.find((d) => d.dimension === seriesDimension)?.value ?? "";
      if (!series.has(name)) series.set(name, []);
      series.get(name).push({ x, ...point(result, cell, "rate", spec.unit) });
    }
    const lines = [...series].map(([name, points]) => ({ name, points }));
    const figure = document.createDocumentFragment();
    figure.append(lineChart({ series: lines, unit: spec.unit, title, xLabel: t("by.years_since_arrival") }));
    figure.append(legend(lines.map((line) => line.name)));
    return figure;
  }
  if (spec.kind === "stages") {
    const [draw] = spec.draws;
    const [result] = results;
    const rows = draw.measures.map((measure) => ({
      label: measure.replace(/^reached_/, "").replaceAll("_", " "),
      points: [point(result, result.total, measure, spec.unit)],
    }));
    return barChart({ rows, measures: ["reached"], unit: spec.unit, title });
  }
  // Grouped bars: one row per cell label across the chart's answers, one bar per drawn measure.
  const rows = new Map();
  const measures = [];
  spec.draws.forEach((draw, index) => {
    const result = results[index];
    for (const measure of draw.measures) measures.push(`${draw.kpi}.${measure}`);
    for (const cell of rowsOf(result, draw.rows)) {
      const label = rowLabel(cell);
      if (!rows.has(label)) rows.set(label, []);
      for (const measure of draw.measures) rows.get(label).push(point(result, cell, measure, spec.unit));
    }
  });
  const figure = document.createDocumentFragment();
  figure.append(barChart({ rows: [...rows].map(([label, points]) => ({ label, points })), measures, unit: spec.unit, title }));
  figure.append(legend(spec.draws.flatMap((draw) => draw.measures.map((m) => (spec.draws.length > 1 ? `${draw.kpi}: ${m}` : m)))));
  return figure;
}

function tableOf(results) {
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const key of ["chart.cell", "chart.measure", "chart.value", "chart.numerator", "chart.denominator"]) {
    const th = document.createElement("th");
    th.textContent = t(key);
    head.append(th);
  }
  const body = table.createTBody();
  for (const result of results) {
    for (const cell of [...result.cells, ...result.margins, result.total]) {
      for (const measure of cell.measures) {
        const row = body.insertRow();
        row.insertCell().textContent = `${result.key}: ${rowLabel(cell)}`;
        row.insertCell().textContent = measure.name;
        const value = row.insertCell();
        value.className = "num";
        if (measure.suppressed) {
          value.textContent = t("chart.suppressed");
          value.dataset.suppressed = "true";
        } else {
          value.textContent = formatValue(measure.value, measureUnit(result.key, measure.name));
        }
        for (const count of [measure.numerator, measure.denominator]) {
          const td = row.insertCell();
          td.className = "num";
          td.textContent = count ?? "–";
        }
      }
    }
  }
  return table;
}

// The frame of a chart: heading, tools (table toggle, CSV), the figure and its table.
function panel(id, titleKey) {
  let section = document.getElementById(`chart-${id}`);
  if (section) return section;
  section = document.createElement("section");
  section.className = "chart";
  section.id = `chart-${id}`;
  section.setAttribute("aria-labelledby", `chart-${id}-title`);
  section.innerHTML = `
    <h2 id="chart-${id}-title" data-i18n="${titleKey}"></h2>
    <div class="tools">
      <button type="button" class="table-toggle" aria-expanded="false" aria-controls="chart-${id}-table" data-i18n="chart.table"></button>
      <button type="button" class="csv" data-i18n="chart.csv"></button>
      <span class="cut"></span>
    </div>
    <div class="figure"></div>
    <p class="note" data-i18n="chart.suppressedNote"></p>
    <div class="table-wrap" id="chart-${id}-table" hidden></div>`;
  const toggle = section.querySelector(".table-toggle");
  toggle.addEventListener("click", () => {
    const wrap = section.querySelector(".table-wrap");
    wrap.hidden = !wrap.hidden;
    toggle.setAttribute("aria-expanded", String(!wrap.hidden));
  });
  document.getElementById("charts").append(section);
  applyLabels(section);
  return section;
}

function render(spec) {
  const section = panel(spec.id, spec.title);
  const results = state.results.get(spec.id);
  const figure = section.querySelector(".figure");
  if (!results) return;
  if (results instanceof Error) {
    figure.replaceChildren(Object.assign(document.createElement("p"), { className: "refused", textContent: results.message }));
    return;
  }
  section.dataset.draws = JSON.stringify(spec.draws);
  section.dataset.queries = JSON.stringify(results.map((result, index) => ({
    key: result.key,
    asOf: result.asOf,
    knownAt: state.filters.knownAt,
    by: spec.queries(state.filters)[index].by,
  })));
  section.dataset.asOf = results[0].asOf;
  figure.replaceChildren(drawChart(spec, results));
  section.querySelector(".cut").textContent = `${t("chart.cut")}: ${results[0].asOf} · ${new Date(results[0].knownAt).toLocaleString(lang() === "de" ? "de-DE" : "en-GB")}`;
  section.querySelector(".table-wrap").replaceChildren(tableOf(results));
  section.querySelector(".csv").onclick = () => {
    const text = results.map((result, index) => (index === 0 ? kpiCsv(result) : kpiCsv(result).split("\n").slice(1).join("\n"))).join("");
    download(`${spec.id}-${results[0].asOf}.csv`, text);
  };
}

function renderCaseload() {
  const section = panel("caseload", "chart.caseload");
  const figure = section.querySelector(".figure");
  const caseload = state.caseload;
  if (!caseload) return;
  if (caseload instanceof Error) {
    figure.replaceChildren(Object.assign(document.createElement("p"), { className: "refused", textContent: `${t("chart.refused")}: ${caseload.message}` }));
    section.querySelector(".table-wrap").replaceChildren();
    return;
  }
  section.dataset.queries = JSON.stringify([{ caseload: true, asOf: state.filters.asOf, knownAt: state.filters.knownAt }]);
  const rows = caseload.map((entry) => ({
    label: entry.agency,
    points: [{ kpi: "caseload", cell: entry.agency, measure: "personCount", value: entry.personCount, suppressed: false, unit: "count" }],
  }));
  figure.replaceChildren(barChart({ rows, measures: ["personCount"], unit: "count", title: t("chart.caseload") }));
  const table = document.createElement("table");
  table.innerHTML = `<thead><tr><th>${t("by.agency")}</th><th>${t("chart.value")}</th></tr></thead>`;
  const body = table.createTBody();
  for (const entry of caseload) {
    const row = body.insertRow();
    row.insertCell().textContent = entry.agency;
    Object.assign(row.insertCell(), { className: "num", textContent: String(entry.personCount) });
  }
  section.querySelector(".table-wrap").replaceChildren(table);
  section.querySelector(".csv").onclick = () => {
    const lines = ["agency,as_of,person_count", ...caseload.map((entry) => `${entry.agency},${state.filters.asOf},${entry.personCount}`)];
    download(`caseload-${state.filters.asOf}.csv`, `${lines.join("\n")}\n`);
  };
}

function stopLive() {
  for (const stop of state.unsubscribe) stop();
  state.unsubscribe = [];
}

// With no `known at`, each answer is replaced by the pushes of `kpiChanged` for the same question.
function startLive() {
  stopLive();
  if (!document.getElementById("live").checked || state.filters.knownAt || !token()) return;
  // One subscription per question: charts asking the same (the waiting time and its distribution)
  // share its pushes.
  const questions = new Map();
  for (const spec of CHARTS) {
    spec.queries(state.filters).forEach((query, index) => {
      const question = JSON.stringify([query.key, query.by]);
      if (!questions.has(question)) questions.set(question, { query, targets: [] });
      questions.get(question).targets.push({ spec, index });
    });
  }
  for (const { query, targets } of questions.values()) {
    const stop = subscribe(
      KPI_SUBSCRIPTION,
      { key: query.key, asOf: state.filters.asOf, by: query.by },
      (data) => {
        for (const { spec, index } of targets) {
          const results = state.results.get(spec.id);
          if (!Array.isArray(results)) continue;
          results[index] = data.kpiChanged;
          render(spec);
        }
        document.body.dataset.livePushes = String(Number(document.body.dataset.livePushes || 0) + 1);
        setStatus(`${t("status.live")} (${new Date().toLocaleTimeString()})`);
      },
      () => {},
    );
    state.unsubscribe.push(stop);
  }
}

async function load() {
  state.filters = readFilters();
  if (!token()) {
    setStatus(t("token.missing"));
    return;
  }
  setStatus(t("status.loading"));
  const { asOf, knownAt } = state.filters;
  const document_ = window.document;
  document_.body.dataset.loading = "true";
  await Promise.all([
    ...CHARTS.map(async (spec) => {
      try {
        const answers = await Promise.all(
          spec.queries(state.filters).map((query) => gql(KPI_QUERY, { key: query.key, asOf, knownAt, by: query.by })),
        );
        state.results.set(spec.id, answers.map((answer) => answer.kpi));
      } catch (error) {
        state.results.set(spec.id, error);
      }
      render(spec);
    }),
    (async () => {
      try {
        state.caseload = (await gql(CASELOAD_QUERY, { asOf, knownAt })).caseload;
      } catch (error) {
        state.caseload = error;
      }
      renderCaseload();
    })(),
  ]);
  delete document_.body.dataset.loading;
  // Tests wait for the count to grow after they change a filter.
  document_.body.dataset.loadCount = String(Number(document_.body.dataset.loadCount || 0) + 1);
  setStatus(`${t("status.updated")} ${new Date().toLocaleTimeString()}`);
  startLive();
}

function redraw() {
  applyLabels();
  for (const spec of CHARTS) render(spec);
  renderCaseload();
}

async function downloadReport() {
  const filters = readFilters();
  const params = new URLSearchParams({ asOf: filters.asOf, lang: document.getElementById("report-lang").value });
  if (filters.knownAt) params.set("knownAt", filters.knownAt);
  setStatus(t("status.loading"));
  const response = await fetch(`/report?${params}`, { headers: { Authorization: `Bearer ${token()}` } });
  if (!response.ok) {
    const body = await response.json().catch(() => ({ errors: [{ message: response.statusText }] }));
    setStatus(body.errors.map((error) => error.message).join("; "), true);
    return;
  }
  download(`journey-report-${filters.asOf}.html`, await response.text(), "text/html;charset=utf-8");
  setStatus(`${t("status.updated")} ${new Date().toLocaleTimeString()}`);
}

function today() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}-${String(now.getDate()).padStart(2, "0")}`;
}

document.getElementById("as-of").value = today();
document.getElementById("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
for (const id of ["as-of", "by", "curve-by", "known-at"]) document.getElementById(id).addEventListener("change", () => load());
document.getElementById("live").addEventListener("change", () => startLive());
document.getElementById("report-download").addEventListener("click", () => downloadReport());
// Panels in a fixed order, before any answer arrives.
for (const spec of CHARTS) panel(spec.id, spec.title);
panel("caseload", "chart.caseload");
window.addEventListener("pagehide", stopLive);
await initShell(() => {
  if (state.filters) redraw();
  load();
});
await load();
