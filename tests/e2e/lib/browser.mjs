// Debian's Chromium driven by playwright-core (no browser download), and helpers to open the
// chat as a given user. Every wait is bounded.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const artifacts = path.resolve(here, '../artifacts');

export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

/** Default bound for every expectation in the tests. */
export const WAIT = 10000;

/**
 * A headless Chromium. Playwright gives every launch a fresh temporary user-data-dir (and
 * every context its own storage), so no state leaks between runs or users.
 */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/**
 * A new browser context (own localStorage) with one page, recording console errors, page
 * errors and CSP violations so tests can assert there were none.
 */
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // A refused WebSocket while the server is down is expected; anything else is a problem.
    if (m.type() === 'error' && !/WebSocket connection to .* failed/.test(m.text())) {
      page.problems.push(`console: ${m.text()}`);
    }
  });
  return page;
}

/** Opens the chat at `url` as `name` through the first-visit name dialog; waits for online. */
export async function openChat(page, url, name) {
  await page.goto(url);
  const dialog = page.getByRole('dialog', { name: 'Welcome to Chat' });
  await dialog.waitFor();
  await dialog.getByLabel('Display name').fill(name);
  await dialog.getByRole('button', { name: 'Continue' }).click();
  await waitOnline(page);
  return page;
}

export async function waitOnline(page, timeout = WAIT) {
  await page.locator('#status[data-state="online"]').waitFor({ timeout });
}

/** The texts of the messages shown in the room in view, in order. */
export function messageTexts(page) {
  return page.locator('#messages .msg .msg-text').allTextContents();
}

/**
 * Waits until the room in view shows exactly `expected` (message texts, in order), or fails
 * with what it showed instead.
 */
export async function expectMessages(page, expected, timeout = WAIT) {
  try {
    await page.waitForFunction(
      (want) => {
        const shown = [...document.querySelectorAll('#messages .msg .msg-text')].map((e) => e.textContent);
        return JSON.stringify(shown) === JSON.stringify(want);
      },
      expected,
      { timeout },
    );
  } catch (e) {
    const shown = await messageTexts(page);
    throw new Error(`expected messages ${JSON.stringify(expected)}\n  but the page shows ${JSON.stringify(shown)}\n  (${e.message.split('\n')[0]})`);
  }
}

/** Types `text` into the composer and presses Enter. */
export async function send(page, text) {
  const input = page.getByRole('textbox', { name: /^Message to #/ });
  await input.fill(text);
  await input.press('Enter');
}

/**
 * Sends `text` and waits for its echo (the message is no longer pending), so that what other
 * clients send next is sequenced after it.
 */
export async function sendEchoed(page, text) {
  await send(page, text);
  await page
    .locator('#messages .msg:not(.pending) .msg-text', { hasText: text })
    .waitFor({ timeout: WAIT });
}

export async function screenshot(page, name) {
  fs.mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) });
}
