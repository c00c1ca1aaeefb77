// GraphiQL is served from the binary and works without internet: it renders, and running a query
// with a demo token shows the server's answer.
import assert from "node:assert/strict";
import { baseUrl, demoTokens, graphql, runTests, screenshot, withBrowser } from "./lib.mjs";

await runTests({
  async "graphiql renders offline and runs a query"() {
    const tokens = await demoTokens();
    const query = '{ kpi(key: "population_present", asOf: "2025-06-30") { key total { value } } }';
    const expected = await graphql(tokens.analyst, query);
    await withBrowser(async (context) => {
      const page = await context.newPage();
      // The token pasted on the start page reaches GraphiQL's Headers pane.
      await page.goto(`${baseUrl}/`);
      await page.fill("#token-input", tokens.analyst);
      await page.click("#token-form button[type=submit]");
      await page.goto(`${baseUrl}/graphql`);
      await page.waitForSelector(".graphiql-container");
      // The headers pane holds the pasted token.
      const editors = await page.evaluate(() =>
        [...document.querySelectorAll(".graphiql-editor-tool .CodeMirror")].map((editor) => editor.CodeMirror.getValue()),
      );
      assert.ok(editors.some((text) => text.includes(`Bearer ${tokens.analyst}`)), `editors: ${editors}`);
      await page.evaluate((text) => document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.setValue(text), query);
      await page.click(".graphiql-execute-button");
      const result = page.locator(".result-window");
      await result.getByText('"population_present"').waitFor();
      const shown = await page.evaluate(() => document.querySelector(".result-window .CodeMirror").CodeMirror.getValue());
      assert.deepEqual(JSON.parse(shown).data, expected);
      await screenshot(page, "graphiql");
    });
  },
});
