// The council report `journey report` wrote for a seeded population (run.sh passes its path in
// JOURNEY_REPORT) opens in chromium from the file alone, renders every indicator of the
// catalogue, and printed to PDF has the cover and then one page per indicator.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { root, runTests, screenshot, screenshotDir, withBrowser } from "./lib.mjs";

const reportPath = process.env.JOURNEY_REPORT;
const catalogue = JSON.parse(readFileSync(join(root, "schemas", "kpis.json"), "utf8")).kpis;

// The pages of a PDF: chromium writes one `/Type /Page` dictionary per page (and `/Type /Pages`
// for the page tree, which the pattern leaves out).
function pdfPageCount(bytes) {
  return (bytes.toString("latin1").match(/\/Type\s*\/Page(?![s\w])/g) || []).length;
}

await runTests({
  async "the report renders every indicator from the file alone"() {
    assert.ok(reportPath, "run.sh sets JOURNEY_REPORT");
    await withBrowser(async (context) => {
      const page = await context.newPage();
      await page.goto(pathToFileURL(reportPath).href);
      const drawn = await page.$$eval("section.indicator", (sections) =>
        sections.map((section) => ({
          key: section.dataset.kpi,
          visible: section.getBoundingClientRect().height > 0,
          bars: section.querySelectorAll("svg rect.bar").length,
          suppressed: section.querySelectorAll('[data-suppressed="true"]').length,
          personLevel: Boolean(section.querySelector('[data-person-level="true"]')),
          rows: section.querySelectorAll("tbody tr").length,
        })),
      );
      assert.deepEqual(drawn.map((section) => section.key), catalogue.map((kpi) => kpi.key));
      for (const section of drawn) {
        assert.ok(section.visible, `${section.key} is not rendered`);
        const definition = catalogue.find((kpi) => kpi.key === section.key);
        if (definition.person_level) {
          assert.ok(section.personLevel, `${section.key} says it is person-level`);
        } else {
          assert.ok(section.bars > 0, `${section.key} draws no bar`);
          assert.ok(section.rows > 0, `${section.key} has no table rows`);
        }
      }
      // A seeded population of 300 by district has suppressed cells somewhere, drawn as such.
      assert.ok(drawn.some((section) => section.suppressed > 0), "no suppressed cell is marked");
      await page.evaluate(() => document.querySelector('section[data-kpi="population_present"]').scrollIntoView());
      await screenshot(page, "report");
    });
  },

  async "printed to PDF the report has one indicator per page"() {
    await withBrowser(async (context) => {
      const page = await context.newPage();
      await page.goto(pathToFileURL(reportPath).href);
      const pdf = await page.pdf({ preferCSSPageSize: true, path: join(screenshotDir, "report.pdf") });
      const pages = pdfPageCount(pdf);
      assert.equal(pages, catalogue.length + 1, `the cover and ${catalogue.length} indicators, one a page`);
    });
  },
});
