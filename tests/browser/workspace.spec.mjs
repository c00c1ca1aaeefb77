// The caseworker workspace in chromium: a caseworker finds a person by name (parts in another order
// and case, umlauts spelled out), records an event through the form generated from its schema,
// gets the rule error for an impossible date on the date field with nothing written, corrects an
// event with a reason; after `erasePerson` the name search finds nothing.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { baseUrl, demoTokens, graphql, runTests, screenshot, withBrowser } from "./lib.mjs";

const TIMELINE = "query($id: ID!) { person(id: $id) { revision timeline { eventId type occurredOn status data targetEventId } } }";

async function timeline(token, id) {
  return (await graphql(token, TIMELINE, { id })).person;
}

await runTests({
  async "a caseworker finds a person by name, records, is stopped by a rule, corrects; erased, nobody is found"() {
    const tokens = await demoTokens();
    const caseworker = tokens.caseworker;
    // A unique family name, so the demo population (which has no names) and other runs do not match.
    const family = `Groß-Prüfling${randomUUID().slice(0, 6)}`;
    const registered = await graphql(caseworker, `mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { personId } }`, {
      input: {
        eventId: randomUUID(), occurredOn: "2024-01-15", birthYear: 1988, sex: "MALE", nationality: "SYR", languages: ["ar"],
        personalData: { givenNames: "Jürgen Emre", familyName: family, birthDate: "1988-02-03" },
      },
    });
    const personId = registered.registerPerson.personId;

    await withBrowser(async (context) => {
      const page = await context.newPage();
      await page.goto(`${baseUrl}/workspace`);
      await page.waitForSelector("body[data-ready=true]");
      await page.click("#demo-tokens button[data-demo-role=caseworker]");
      await page.waitForFunction(() => /caseworker/i.test(document.getElementById("token-who").textContent));

      // Find: the family name's parts with umlauts spelled out, in capitals, before the given name.
      const spelled = family.replace("Groß", "GROSS").replace("ü", "ue");
      await page.fill("#search-name", `${spelled} juergen`);
      await page.keyboard.press("Enter");
      const found = page.locator("#search-results li.found");
      await found.first().waitFor();
      assert.equal(await found.count(), 1);
      assert.match(await found.first().textContent(), new RegExp(`${family}, Jürgen Emre \\(1988-02-03\\)`));
      // Keyboard only: focus the open button and press Enter.
      await found.first().locator("button.open").focus();
      await page.keyboard.press("Enter");
      await page.waitForFunction((id) => document.getElementById("person").dataset.person === id, personId);
      assert.equal(await page.evaluate(() => document.activeElement.id), "person-title");

      // The types the rules accept next come first, as the API answers them, the first selected;
      // an end of an employment is not among them before one started.
      const acceptedNext = async () => (await graphql(caseworker, "query($id: ID!) { acceptedNext(personId: $id) { eventTypes } }", { id: personId })).acceptedNext.eventTypes;
      const offeredFirst = () => page.$$eval("#event-type optgroup[data-group=accepted-next] option", (options) => options.map((option) => option.value));
      const formTypes = (types) => types.filter((type) => !["PersonRegistered", "EventCorrected", "EventRetracted", "PersonalDataErased"].includes(type));
      let expected = formTypes(await acceptedNext());
      assert.ok(expected.length > 0);
      assert.deepEqual(await offeredFirst(), expected);
      assert.equal(await page.inputValue("#event-type"), expected[0]);
      assert.equal(await page.$eval("#event-type", (select) => select.options[0].value), expected[0]);
      assert.ok(!expected.includes("EmploymentEnded"));

      // Record an employment through the generated form.
      await page.selectOption("#event-type", "EmploymentStarted");
      for (const field of ["employment_id", "kind", "occupation_code", "weekly_hours"]) {
        assert.equal(await page.locator(`#field-${field}`).count(), 1, `the form has ${field}`);
      }
      await page.fill("#field-occurredOn", "2024-03-01");
      await page.fill("#field-employment_id", "e-browser");
      await page.selectOption("#field-kind", "marginal");
      await page.fill("#field-weekly_hours", "12");
      await page.click("#event-submit");
      await page.waitForFunction(() => document.querySelector("#timeline tr[data-type=EmploymentStarted]"));
      let person = await timeline(caseworker, personId);
      const started = person.timeline.find((event) => event.type === "EmploymentStarted");
      assert.deepEqual(started.data, { employment_id: "e-browser", kind: "marginal", weekly_hours: 12 });
      assert.equal(started.occurredOn, "2024-03-01");
      // Now its end is accepted next, and offered among the first.
      expected = formTypes(await acceptedNext());
      assert.ok(expected.includes("EmploymentEnded"));
      await page.waitForFunction(() => document.querySelector("#event-type optgroup[data-group=accepted-next] option[value=EmploymentEnded]"));
      assert.deepEqual(await offeredFirst(), expected);

      // An end before the start: the rule's error on the date field, nothing written.
      const before = person.revision;
      await page.selectOption("#event-type", "EmploymentEnded");
      await page.fill("#field-occurredOn", "2024-02-01");
      await page.fill("#field-employment_id", "e-browser");
      await page.click("#event-submit");
      await page.waitForFunction(() => document.getElementById("error-occurredOn").textContent.length > 0);
      const message = await page.textContent("#error-occurredOn");
      assert.match(message, /2024-02-01/);
      assert.match(message, /end_not_before_start|EndNotBeforeStart|end/i);
      assert.equal(await page.getAttribute("#field-occurredOn", "aria-invalid"), "true");
      assert.equal(await page.getAttribute("#error-occurredOn", "data-code"), "RULE_VIOLATION");
      person = await timeline(caseworker, personId);
      assert.equal(person.revision, before, "nothing was written");
      await screenshot(page, "workspace-rule-error");

      // Correct the start date, with a reason.
      await page.click(`#timeline button[data-action=correct][data-event="${started.eventId}"]`);
      assert.equal(await page.inputValue("#field-employment_id"), "e-browser");
      await page.fill("#field-occurredOn", "2024-03-05");
      await page.fill("#correct-reason", "Datum vertippt");
      await page.click("#event-submit");
      await page.waitForFunction(() => document.querySelector("#timeline tr[data-type=EventCorrected]"));
      person = await timeline(caseworker, personId);
      const correction = person.timeline.find((event) => event.type === "EventCorrected");
      assert.equal(correction.targetEventId, started.eventId);
      assert.equal(correction.data.reason, "Datum vertippt");
      assert.equal(correction.data.replacement.occurred_on, "2024-03-05");
      assert.equal(person.timeline.find((event) => event.eventId === started.eventId).status, "CORRECTED");
      assert.equal(await page.getAttribute(`#timeline tr[data-event="${started.eventId}"]`, "data-status"), "CORRECTED");
      await screenshot(page, "workspace");

      // Erased: the same search finds nobody, in the page and over the API.
      await graphql(caseworker, `mutation($input: ErasePersonInput!) { erasePerson(input: $input) { revision } }`, {
        input: { personId, eventId: randomUUID(), occurredOn: "2024-06-01", reason: "ART17_REQUEST" },
      });
      await page.fill("#search-name", `${spelled} juergen`);
      await page.click("#search-form button[type=submit]");
      await page.waitForFunction(() => /Niemand|Nobody/.test(document.getElementById("search-status").textContent));
      assert.equal(await page.locator("#search-results li").count(), 0);
      const api = await graphql(caseworker, `query($name: String) { findPersons(name: $name) { edges { cursor } } }`, { name: family });
      assert.deepEqual(api.findPersons.edges, []);
    });
  },

  async "the agency's lists open a person, in English, on a narrow screen"() {
    const tokens = await demoTokens();
    await withBrowser(async (context) => {
      const page = await context.newPage();
      await page.goto(`${baseUrl}/workspace`);
      await page.waitForSelector("body[data-ready=true]");
      await page.click("#demo-tokens button[data-demo-role=caseworker]");
      await page.waitForFunction(() => /caseworker/i.test(document.getElementById("token-who").textContent));
      // The language switch relabels the page: to English, whichever the browser started in.
      if ((await page.evaluate(() => document.documentElement.lang)) !== "en") await page.click("#lang-switch");
      await page.waitForFunction(() => document.getElementById("lists-title").textContent === "My agency's lists");
      await page.click("#lang-switch");
      await page.waitForFunction(() => document.getElementById("lists-title").textContent === "Listen meiner Stelle");
      await page.click("#lang-switch");
      const data = await graphql(tokens.caseworker, "{ idleList(minDays: 90) { personId } caseload { agency persons } }");
      const open = page.locator("#idle-list button.open, #caseload-list button.open");
      await open.first().waitFor();
      const target = await open.first().getAttribute("data-person");
      const listed = new Set([...data.idleList.map((row) => row.personId), ...data.caseload.flatMap((row) => row.persons)]);
      assert.ok(listed.has(target), `${target} is on the API's lists`);
      await open.first().click();
      await page.waitForFunction((id) => document.getElementById("person").dataset.person === id, target);
      assert.ok((await page.locator("#timeline tbody tr").count()) > 0);
      await screenshot(page, "workspace-narrow");
    }, { viewport: { width: 390, height: 844 } });
  },
});
