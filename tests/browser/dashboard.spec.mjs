// The dashboard at `/` draws every chart with the figures the GraphQL API answers for the same
// questions, redraws them for another reporting date, draws suppressed cells as suppressed (never
// as zero), and downloads a chart's CSV in the same bytes as `journey kpi --format csv`.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { baseUrl, demoTokens, graphql, runTests, screenshot, withBrowser } from "./lib.mjs";

const KPI_QUERY = `query Kpi($key: String!, $asOf: Date, $knownAt: DateTime, $by: [Dimension!]) {
  kpi(key: $key, asOf: $asOf, knownAt: $knownAt, by: $by) {
    key cells { ...cell } total { ...cell }
  }
}
fragment cell on KpiCell { dimensions { dimension value } measures { name value suppressed } }`;

// The CLI's cell label (`district=Lebenstedt`, `total`), as the page writes it in `data-cell`.
function cellLabel(cell) {
  return cell.dimensions.length ? cell.dimensions.map((d) => `${d.dimension.toLowerCase()}=${d.value}`).join(" ") : "total";
}

// Every drawn point of every chart: `{chart, kpi, cell, measure, value | suppressed}`, with the
// chart's declared queries and draws.
async function drawn(page) {
  return page.$$eval("section.chart", (sections) =>
    sections.map((section) => ({
      id: section.id,
      queries: JSON.parse(section.dataset.queries || "[]"),
      draws: JSON.parse(section.dataset.draws || "[]"),
      refused: Boolean(section.querySelector(".refused")),
      points: [...section.querySelectorAll(".point")].map((node) => ({
        kpi: node.dataset.kpi,
        cell: node.dataset.cell,
        measure: node.dataset.measure,
        value: node.dataset.value === undefined ? null : Number(node.dataset.value),
        suppressed: node.dataset.suppressed === "true",
      })),
    })),
  );
}

const pointKey = (point) => `${point.kpi}|${point.cell}|${point.measure}`;

// Asks the API every question the page says it asked and checks that the drawn points are
// exactly the answers' figures: the same set of points, equal values, suppressed where suppressed.
async function assertChartsMatchTheApi(page, token, only = null) {
  const charts = await drawn(page);
  assert.equal(charts.length, 8, "eight charts");
  for (const chart of charts.filter((chart) => only === null || chart.id === only)) {
    assert.ok(!chart.refused, `${chart.id} was refused`);
    const expected = new Map();
    if (chart.id === "chart-caseload") {
      const [query] = chart.queries;
      const data = await graphql(token, "query($asOf: Date, $knownAt: DateTime) { caseload(asOf: $asOf, knownAt: $knownAt) { agency personCount } }", query);
      for (const entry of data.caseload) {
        expected.set(`caseload|${entry.agency}|personCount`, { value: entry.personCount, suppressed: false });
      }
    } else {
      assert.equal(chart.queries.length, chart.draws.length, chart.id);
      for (const [index, query] of chart.queries.entries()) {
        const { kpi } = await graphql(token, KPI_QUERY, query);
        const draw = chart.draws[index];
        const cells = draw.rows === "total" ? [kpi.total] : draw.rows === "cells" ? kpi.cells : [...kpi.cells, kpi.total];
        for (const cell of cells) {
          // The curve is drawn over whole years; the API's cells are all whole years.
          for (const name of draw.measures) {
            const measure = cell.measures.find((m) => m.name === name);
            // An undefined figure (a share of nobody) is drawn as such (no value, not suppressed),
            // except on a curve, which has no point there.
            if (draw.skipsUndefined && !measure.suppressed && measure.value === null) continue;
            expected.set(`${kpi.key}|${cellLabel(cell)}|${name}`, { value: measure.value, suppressed: measure.suppressed });
          }
        }
      }
    }
    const shown = new Map(chart.points.map((point) => [pointKey(point), { value: point.value, suppressed: point.suppressed }]));
    assert.ok(expected.size > 0, `${chart.id} has figures to draw`);
    assert.deepEqual(shown, expected, `${chart.id} draws the API's figures`);
  }
  return charts;
}

async function reload(page, change) {
  const before = Number(await page.getAttribute("body", "data-load-count"));
  await change();
  await page.waitForFunction((count) => Number(document.body.dataset.loadCount) > count, before);
}

// Signs in with a demo token and turns live updates off, so that no push redraws a chart while
// the test reads it (the live test turns them on).
async function signIn(page, role) {
  await page.goto(`${baseUrl}/`);
  await page.uncheck("#live");
  await page.click(`#demo-tokens button[data-demo-role="${role}"]`);
  await page.waitForFunction(() => Number(document.body.dataset.loadCount) > 0 && !document.body.dataset.loading);
}

const tokens = await demoTokens();

await runTests({
  async "every chart draws the figures the API answers, and another reporting date redraws them"() {
    await withBrowser(async (context) => {
      const page = await context.newPage();
      await signIn(page, "caseworker");
      await reload(page, () => page.selectOption("#by", "DISTRICT"));
      const today = await assertChartsMatchTheApi(page, tokens.caseworker);
      await screenshot(page, "dashboard");


      await reload(page, () => page.fill("#as-of", "2021-06-30"));
      const earlier = await assertChartsMatchTheApi(page, tokens.caseworker);
      for (const chart of earlier) {
        assert.ok(chart.queries.every((query) => query.asOf === "2021-06-30"), `${chart.id} asked for the new date`);
      }
      const figures = (charts) => JSON.stringify(charts.map((chart) => chart.points));
      assert.notEqual(figures(earlier), figures(today), "another reporting date draws other figures");
    });
  },

  async "the course waiting-time distribution draws and tabulates the API's band shares"() {
    const bands = ["share_waited_0_to_28_days", "share_waited_29_to_56_days", "share_waited_57_to_91_days", "share_waited_over_91_days"];
    const BANDS_QUERY = `query($asOf: Date) { kpi(key: "course_waiting_days", asOf: $asOf) {
      cells { ...c } margins { ...c } total { ...c } } }
      fragment c on KpiCell { measures { name value numerator denominator suppressed } }`;
    // The demo population is small: find a reporting date at which the API publishes the bands
    // (enough course starts in the 12 months before it for disclosure control).
    let asOf = null;
    for (let year = 2016; year <= 2025 && !asOf; year += 1) {
      for (const day of [`${year}-06-30`, `${year}-12-31`]) {
        const { kpi } = await graphql(tokens.caseworker, BANDS_QUERY, { asOf: day });
        if (kpi.total.measures.some((measure) => bands.includes(measure.name) && !measure.suppressed)) {
          asOf = day;
          break;
        }
      }
    }
    assert.ok(asOf, "the demo population publishes the waiting-time distribution at some date");
    await withBrowser(async (context) => {
      const page = await context.newPage();
      await signIn(page, "caseworker");
      await reload(page, () => page.fill("#as-of", asOf));
      const charts = await assertChartsMatchTheApi(page, tokens.caseworker, "chart-course-waiting-distribution");
      const distribution = charts.find((chart) => chart.id === "chart-course-waiting-distribution");
      const published = distribution.points.filter((point) => bands.includes(point.measure) && !point.suppressed);
      assert.equal(published.length, bands.length, "the total's four bands are drawn");
      const drawnSum = published.reduce((sum, point) => sum + point.value, 0);
      assert.ok(Math.abs(drawnSum - 1) < 0.001, `the bands add up to the starts: ${drawnSum}`);
      // Its table shows the API's band counts for every cell.
      const { kpi } = await graphql(tokens.caseworker, BANDS_QUERY, { asOf });
      const fromApi = [...kpi.cells, ...kpi.margins, kpi.total].flatMap((cell) => cell.measures)
        .filter((measure) => bands.includes(measure.name))
        .map((measure) => [measure.name, measure.suppressed ? "suppressed" : `${measure.numerator}/${measure.denominator}`].join("|"))
        .sort();
      await page.click("#chart-course-waiting-distribution .table-toggle");
      const fromTable = await page.$$eval("#chart-course-waiting-distribution-table tbody tr", (rows) => rows.map((row) => {
        const cells = [...row.cells].map((cell) => cell.textContent);
        return [cells[1], row.cells[2].dataset.suppressed === "true" ? "suppressed" : `${cells[3]}/${cells[4]}`];
      }));
      assert.deepEqual(fromTable.filter(([name]) => bands.includes(name)).map((row) => row.join("|")).sort(), fromApi);
      await screenshot(page, "dashboard-waiting-distribution");
    });
  },

  async "live updates arrive over kpiChanged and redraw the charts with the API's figures"() {
    await withBrowser(async (context) => {
      const page = await context.newPage();
      const sockets = [];
      page.on("websocket", (socket) => sockets.push(socket.url()));
      await page.goto(`${baseUrl}/`);
      await page.click('#demo-tokens button[data-demo-role="caseworker"]');
      // kpiChanged answers at once when subscribed; every answer after the first load is a push.
      await page.waitForFunction(() => Number(document.body.dataset.livePushes) >= 7);
      assert.equal(sockets.length, 7, "one subscription per indicator question");
      assert.ok(sockets.every((url) => url.endsWith("/graphql/ws")), sockets.join(", "));
      await page.uncheck("#live");
      await assertChartsMatchTheApi(page, tokens.caseworker);
    });
  },

  async "new records reach the open dashboard through kpiChanged"() {
    await withBrowser(async (context) => {
      const page = await context.newPage();
      await page.goto(`${baseUrl}/`);
      await page.click('#demo-tokens button[data-demo-role="caseworker"]');
      await page.waitForFunction(() => Number(document.body.dataset.livePushes) >= 7);
      const funnel = () => page.$$eval("#chart-funnel .point", (nodes) => nodes.map((node) => `${node.dataset.measure}=${node.dataset.value ?? "suppressed"}`).join(" "));
      const before = await funnel();
      // Four new arrivals: more than k persons change, so a suppressed caller gets the push too.
      const yesterday = new Date(Date.now() - 86400000).toISOString().slice(0, 10);
      for (let index = 0; index < 4; index += 1) {
        const { registerPerson } = await graphql(
          tokens.caseworker,
          "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { personId } }",
          { input: { eventId: crypto.randomUUID(), occurredOn: yesterday, birthYear: 1990, sex: "FEMALE", nationality: "SYR", languages: ["ar"] } },
        );
        await graphql(
          tokens.caseworker,
          "mutation($input: RecordArrivalInput!) { recordArrival(input: $input) { revision } }",
          { input: { personId: registerPerson.personId, eventId: crypto.randomUUID(), occurredOn: yesterday, origin: "ABROAD", accommodation: "FLAT", district: "Lebenstedt" } },
        );
      }
      await page.waitForFunction(
        (old) => [...document.querySelectorAll("#chart-funnel .point")].map((node) => `${node.dataset.measure}=${node.dataset.value ?? "suppressed"}`).join(" ") !== old,
        before,
      );
      // The other charts may still be waiting for their push; the funnel has had it.
      await page.uncheck("#live");
      await assertChartsMatchTheApi(page, tokens.caseworker, "chart-funnel");
    });
  },

  async "a suppressed cell is drawn as suppressed, not as zero"() {
    await withBrowser(async (context) => {
      const page = await context.newPage();
      await signIn(page, "analyst");
      await reload(page, () => page.selectOption("#by", "DISTRICT"));
      const suppressed = page.locator('.chart .point[data-suppressed="true"]');
      const count = await suppressed.count();
      assert.ok(count > 0, "a population of 400 by district has suppressed cells");
      for (let index = 0; index < count; index += 1) {
        const node = suppressed.nth(index);
        assert.equal(await node.getAttribute("data-value"), null, "a suppressed point carries no value");
        assert.match(await node.getAttribute("fill"), /^url\(#hatch-/, "drawn hatched");
        const box = await node.boundingBox();
        assert.ok(box && box.width > 0 && box.height > 0, `drawn with a size, not as a zero bar: ${JSON.stringify(box)} ${await node.evaluate((n) => n.outerHTML)}`);
      }
      // The chart's table on demand says so in words.
      const chartId = await suppressed.first().evaluate((node) => node.closest(".chart").id);
      const chart = page.locator(`#${chartId}`);
      await chart.locator(".table-toggle").click();
      assert.equal(await chart.locator(".table-toggle").getAttribute("aria-expanded"), "true");
      assert.ok(await chart.locator('td[data-suppressed="true"]').count() > 0);
      await assertChartsMatchTheApi(page, tokens.analyst).catch((error) => {
        // The analyst may not see the caseload; every indicator chart must still match.
        if (!String(error).includes("chart-caseload")) throw error;
      });
    });
  },

  async "a chart's CSV is the CLI's CSV for the same question"() {
    await withBrowser(async (context) => {
      const page = await context.newPage();
      await signIn(page, "caseworker");
      const knownAt = process.env.JOURNEY_CSV_KNOWN_AT;
      // The filters are set without events, then shown at once, so that only one load runs.
      await page.evaluate(({ asOf, iso }) => {
        document.getElementById("as-of").value = asOf;
        document.getElementById("by").value = "DISTRICT";
        // datetime-local takes local time; the page turns it back into UTC.
        const time = new Date(iso);
        const local = new Date(time.getTime() - time.getTimezoneOffset() * 60000);
        document.getElementById("known-at").value = local.toISOString().slice(0, 19);
      }, { asOf: process.env.JOURNEY_CSV_AS_OF, iso: knownAt });
      await reload(page, () => page.click("#filters button[type=submit]"));
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.click("#chart-course-waiting .csv"),
      ]);
      const text = readFileSync(await download.path(), "utf8");
      assert.equal(text, readFileSync(process.env.JOURNEY_CLI_CSV, "utf8"));
      // The distribution chart asks the same question: its CSV is the same file, bands included.
      const [distribution] = await Promise.all([
        page.waitForEvent("download"),
        page.click("#chart-course-waiting-distribution .csv"),
      ]);
      const distributionText = readFileSync(await distribution.path(), "utf8");
      assert.equal(distributionText, text);
      assert.match(distributionText, /share_waited_0_to_28_days/);
    });
  },

  async "the dashboard is usable on a narrow screen and in German"() {
    await withBrowser(
      async (context) => {
        const page = await context.newPage();
        await signIn(page, "caseworker");
        await page.click("#lang-switch");
        const german = (await page.textContent("#chart-funnel h2")) === "Präventionskette: erreichte Stufen";
        if (!german) {
          // The browser started in German: the switch went to English; switch back.
          await page.click("#lang-switch");
        }
        assert.equal(await page.textContent("#chart-funnel h2"), "Präventionskette: erreichte Stufen");
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
        // Keyboard: the filters and every chart's buttons are reachable with Tab.
        const reached = new Set();
        for (let step = 0; step < 60; step += 1) {
          await page.keyboard.press("Tab");
          reached.add(await page.evaluate(() => document.activeElement?.id || document.activeElement?.className || ""));
        }
        for (const id of ["as-of", "by", "report-download"]) assert.ok(reached.has(id), `Tab reaches #${id}`);
        assert.ok(reached.has("table-toggle"), "Tab reaches the table buttons");
        await screenshot(page, "dashboard-narrow");
      },
      { viewport: { width: 390, height: 844 } },
    );
  },

  async "the dashboard downloads the council report for its cut"() {
    await withBrowser(async (context) => {
      const page = await context.newPage();
      await signIn(page, "analyst");
      await page.selectOption("#report-lang", "en");
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#report-download")]);
      const html = readFileSync(await download.path(), "utf8");
      const catalogue = (await graphql(tokens.analyst, "{ kpiCatalogue { key } }")).kpiCatalogue;
      for (const { key } of catalogue) assert.ok(html.includes(`data-kpi="${key}"`), `${key} missing from the report`);
      assert.ok(html.includes("Disclosure control"), "the analyst's report is suppressed");
    });
  },
});
