// The vendored GraphiQL under api/web/vendor/ is the built files of the npm packages pinned in
// this directory's package.json and package-lock.json, copied byte for byte with their licences.
//
//   node vendor.mjs          copies them from node_modules (run `npm ci` first)
//   node vendor.mjs --check  fails, naming each file, when a vendored file differs from the
//                            pinned package's (or a package is not the pinned version)
//
// The binary embeds api/web/vendor/ at compile time, so `cargo build` never needs Node; this
// script is how a maintainer moves to a new pinned version.
import { readFileSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "..", "..", "api", "web", "vendor");
const pinned = JSON.parse(readFileSync(join(here, "package.json"), "utf8")).dependencies;

// Source file in node_modules -> vendored file name.
const FILES = [
  ["graphiql", "graphiql.min.js", "graphiql.min.js"],
  ["graphiql", "graphiql.min.css", "graphiql.min.css"],
  ["graphiql", "LICENSE", "LICENSE.graphiql"],
  ["react", "umd/react.production.min.js", "react.production.min.js"],
  ["react", "LICENSE", "LICENSE.react"],
  ["react-dom", "umd/react-dom.production.min.js", "react-dom.production.min.js"],
  ["react-dom", "LICENSE", "LICENSE.react-dom"],
];

const check = process.argv.includes("--check");
const problems = [];
for (const name of new Set(FILES.map(([name]) => name))) {
  const installed = JSON.parse(
    readFileSync(join(here, "node_modules", name, "package.json"), "utf8"),
  ).version;
  if (installed !== pinned[name]) {
    problems.push(`${name}: node_modules has ${installed}, package.json pins ${pinned[name]}; run npm ci`);
  }
}
const manifest = {};
for (const [name, source, target] of FILES) {
  const bytes = readFileSync(join(here, "node_modules", name, source));
  manifest[target] = `${name}@${pinned[name]}/${source}`;
  const path = join(vendor, target);
  if (check) {
    if (!existsSync(path)) {
      problems.push(`${target} is missing from api/web/vendor/; run node tests/browser/vendor.mjs`);
    } else if (!readFileSync(path).equals(bytes)) {
      problems.push(`${target} differs from ${name}@${pinned[name]}/${source}; run node tests/browser/vendor.mjs`);
    }
  } else {
    mkdirSync(vendor, { recursive: true });
    writeFileSync(path, bytes);
  }
}
const manifestText = JSON.stringify(manifest, null, 2) + "\n";
const manifestPath = join(vendor, "VENDORED.json");
if (check) {
  if (!existsSync(manifestPath) || readFileSync(manifestPath, "utf8") !== manifestText) {
    problems.push("VENDORED.json does not list the pinned versions; run node tests/browser/vendor.mjs");
  }
} else {
  writeFileSync(manifestPath, manifestText);
}
if (problems.length > 0) {
  for (const problem of problems) console.error(`vendor check: ${problem}`);
  process.exit(1);
}
console.log(check ? "vendor check: api/web/vendor/ matches the pinned packages" : `vendored ${FILES.length} files into api/web/vendor/`);
