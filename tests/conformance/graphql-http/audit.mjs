// Runs the graphql-http server audits (GraphQL over HTTP spec) against a running journey server.
//
// Usage: node audit.mjs http://127.0.0.1:PORT/graphql
// With JOURNEY_TOKEN set, every audit request carries `Authorization: Bearer $JOURNEY_TOKEN`.
// Prints one line per audit and a summary per requirement level; exits 1 if any MUST audit fails.

import { serverAudits } from 'graphql-http';

const url = process.argv[2] ?? process.env.GRAPHQL_URL;
if (!url) {
  console.error('usage: node audit.mjs http://127.0.0.1:PORT/graphql');
  process.exit(2);
}

const token = process.env.JOURNEY_TOKEN;
const fetchFn = token
  ? (input, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${token}`);
      return fetch(input, { ...init, headers });
    }
  : fetch;

const counts = {};
let mustFailed = 0;
for (const audit of serverAudits({ url, fetchFn })) {
  const level = audit.name.split(' ')[0];
  const result = await audit.fn();
  counts[level] ??= { passed: 0, failed: 0 };
  if (result.status === 'ok') {
    counts[level].passed += 1;
    console.log(`ok      ${audit.id} ${audit.name}`);
  } else {
    counts[level].failed += 1;
    if (level === 'MUST') mustFailed += 1;
    let body = '';
    try {
      body = await result.response.text();
    } catch {
      // The body was already read by the audit; the reason says enough.
    }
    console.log(`${result.status.padEnd(7)} ${audit.id} ${audit.name}: ${result.reason}${body ? ` (body: ${body.slice(0, 200)})` : ''}`);
  }
}

console.log(`graphql-http audits against ${url}${token ? ' (with a bearer token)' : ' (without a token)'}:`);
for (const [level, { passed, failed }] of Object.entries(counts)) {
  console.log(`  ${level.padEnd(6)} ${passed} passed, ${failed} not passed`);
}
process.exit(mustFailed > 0 ? 1 : 0);
