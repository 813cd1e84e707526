// axe-core in the page: fails on serious or critical violations. axe is injected as an inline
// script, which the page's CSP forbids: pages checked with it live in a context created with
// `bypassCSP: true`, used for these checks only (every other test runs under the CSP).

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core');

export async function assertAccessible(page, label) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: AXE });
  const results = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ['violations'] }).then((r) =>
      r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.any?.[0]?.message ?? ''}`).slice(0, 5),
      })),
    ),
  );
  const severe = results.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const minor = results.filter((v) => !severe.includes(v));
  if (minor.length) console.log(`# axe (${label}) minor:`, JSON.stringify(minor));
  assert.deepEqual(severe, [], `axe (${label}) found serious or critical violations`);
}
