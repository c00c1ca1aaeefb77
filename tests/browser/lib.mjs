// What every browser spec shares: Debian's chromium driven by playwright-core, with every request
// that leaves loopback aborted and counted (a page that needs the internet fails its test), the
// server run.sh started, its demo tokens, and screenshots checked not to be blank.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const baseUrl = process.env.JOURNEY_URL;
export const screenshotDir = join(root, "target", "browser-screenshots");

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

// A fresh browser with its own profile; `run(context, blocked)` gets a context whose requests to
// anything but loopback (or file: and data: URLs) are aborted and listed in `blocked`. The test
// fails when any was blocked.
export async function withBrowser(run, { viewport = { width: 1280, height: 800 } } = {}) {
  const profile = mkdtempSync(join(tmpdir(), "journey-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport,
    acceptDownloads: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const blocked = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === "data:" || url.protocol === "blob:" || url.protocol === "file:" || LOOPBACK.has(url.hostname)) {
      return route.continue();
    }
    blocked.push(url.href);
    return route.abort("blockedbyclient");
  });
  const errors = [];
  context.on("weberror", (error) => errors.push(String(error.error())));
  try {
    await run(context, errors);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  assert.deepEqual(blocked, [], "the pages requested something outside loopback");
  assert.deepEqual(errors, [], "the pages threw errors");
}

// The demo tokens the server offers its start page, by role.
export async function demoTokens() {
  const response = await fetch(`${baseUrl}/web/demo-tokens.json`);
  assert.equal(response.status, 200, "run.sh starts the server with --demo");
  const tokens = await response.json();
  return Object.fromEntries(tokens.map((entry) => [entry.role, entry.token]));
}

// A GraphQL request from the test itself (not the page), to compare with what the page shows.
export async function graphql(token, query, variables = {}) {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

// Saves a screenshot under target/browser-screenshots/ and fails when it is blank: a blank page
// is one colour, so the PNG of a drawn page has many distinct pixel values. The check decodes
// nothing: it asks the page itself to count colours of the captured image.
export async function screenshot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, `${name}.png`);
  const png = await page.screenshot({ path, fullPage: false });
  const colours = await page.evaluate(async (base64) => {
    const image = new Image();
    image.src = `data:image/png;base64,${base64}`;
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const pixels = context.getImageData(0, 0, image.width, image.height).data;
    const seen = new Set();
    for (let i = 0; i < pixels.length && seen.size < 1000; i += 4 * 7) {
      seen.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
    }
    return seen.size;
  }, png.toString("base64"));
  assert.ok(colours >= 20, `screenshot ${name} looks blank (${colours} colours)`);
  return path;
}

// Runs the named test functions in order, printing each result; exits non-zero on a failure.
export async function runTests(tests) {
  let failed = 0;
  for (const [name, test] of Object.entries(tests)) {
    try {
      await test();
      console.log(`ok   ${name}`);
    } catch (error) {
      failed += 1;
      console.log(`FAIL ${name}\n${error.stack || error}`);
    }
  }
  if (failed) process.exit(1);
}
