// How the page looks and whether everyone can use it: axe-core finds no serious or critical
// violation in any main state (light, dark, phone), the keyboard alone is enough, and each
// state is saved as a screenshot in artifacts/ (E2E_UPDATE_DOCS=1 also refreshes
// docs/screenshot.png, the README's picture).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { assertAccessible } from '../lib/axe.mjs';
import {
  artifacts,
  expectMessages,
  launchBrowser,
  newPage,
  openChat,
  screenshot,
  send,
  sendEchoed,
  waitOnline,
} from '../lib/browser.mjs';
import { repoRoot, startServer } from '../lib/server.mjs';
import { connectClient } from '../lib/ws-client.mjs';

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

describe('look and accessibility', () => {
  let server;
  let browser;
  const others = {};

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    // A lived-in room: a few people and a conversation.
    for (const name of ['bob', 'carol', 'dave']) {
      others[name] = await connectClient(server.addr, name);
      await others[name].join('general');
    }
    await others.bob.join('design');
    await others.carol.join('release-1.0');
    await others.bob.say('general', 'Morning! Did anyone try the new reconnect logic yet?');
    await others.carol.say('general', 'Yes: I restarted the server mid-conversation and everything came back in order.');
    await others.carol.say('general', 'Even the message I typed while it was down showed up exactly once.');
  });

  after(async () => {
    for (const client of Object.values(others)) client.close();
    await browser?.close();
    await server?.stop();
  });

  /** Alice's browser storage after the desktop scene: her name, rooms and user ids. */
  let aliceStorage;

  /** Alice's page in a lived-in state, in a CSP-bypassing context for axe. */
  async function aliceScene(options = {}) {
    const page = await newPage(browser, { bypassCSP: true, storageState: aliceStorage, ...options });
    if (aliceStorage) {
      await page.goto(`${server.url}#general`);
      await waitOnline(page);
      return page;
    }
    await openChat(page, server.url, 'alice');
    const menu = page.getByRole('button', { name: 'Show rooms' });
    for (const room of ['design', 'release-1.0']) {
      // On a phone the join field is in the sidebar, which slides in from the menu button.
      const phone = await menu.isVisible();
      if (phone) await menu.click();
      const join = page.getByRole('textbox', { name: 'Join a room' });
      await join.fill(room);
      await join.press('Enter');
      await page.locator('#room-name', { hasText: room }).waitFor();
      if (phone) await page.locator('#sidebar').waitFor({ state: 'hidden' });
    }
    await page.evaluate(() => {
      location.hash = '#general';
    });
    await page.locator('#room-name', { hasText: 'general' }).waitFor();
    return page;
  }

  it('has no serious accessibility violation in the welcome dialog, and looks right', async () => {
    const page = await newPage(browser, { bypassCSP: true });
    await page.goto(server.url);
    await page.getByRole('dialog', { name: 'Welcome to Chat' }).waitFor();
    await page.getByRole('textbox', { name: 'Display name' }).fill('alice');
    await screenshot(page, 'welcome');
    await assertAccessible(page, 'welcome dialog');
    await page.context().close();
  });

  it('has no serious accessibility violation in a busy room, light and dark', async () => {
    const page = await aliceScene();
    // Echoed before bob speaks: the page's send and bob's race to the server otherwise.
    await sendEchoed(page, 'Nice. The backoff with jitter keeps the herd calm, too.');
    await others.bob.say('general', 'Release notes draft is up: https://example.com/releases/1.0');
    await others.dave.say('general', 'I will review it after lunch. @alice, can you check the `since` **edge case**?');
    await send(page, 'Thanks, looks great so far!');
    await others.bob.say('design', 'New icons are in the shared folder.');
    await others.carol.say('release-1.0', 'Tagging tomorrow morning.');
    await others.carol.say('release-1.0', 'Last call for changes.');
    await page.getByRole('button', { name: 'release-1.0 2 unread' }).waitFor();
    others.carol.send({ type: 'typing', room: 'general', active: true });
    await page.getByText('carol is typing…').waitFor();
    await expectMessages(page, [
      'Morning! Did anyone try the new reconnect logic yet?',
      'Yes: I restarted the server mid-conversation and everything came back in order.',
      'Even the message I typed while it was down showed up exactly once.',
      'Nice. The backoff with jitter keeps the herd calm, too.',
      'Release notes draft is up: https://example.com/releases/1.0',
      'I will review it after lunch. @alice, can you check the since edge case?',
      'Thanks, looks great so far!',
    ]);
    await page.locator('.msg.pending').waitFor({ state: 'detached' });
    await page.locator('#composer-input').blur();

    await page.emulateMedia({ colorScheme: 'light' });
    await screenshot(page, 'room-light');
    updateDocs('room-light', 'screenshot.png');
    await assertAccessible(page, 'room, light');
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(await background(), 'rgb(255, 255, 255)');
    await page.emulateMedia({ colorScheme: 'dark' });
    assert.equal(await background(), 'rgb(22, 24, 31)', 'the theme follows the system');
    await screenshot(page, 'room-dark');
    updateDocs('room-dark', 'screenshot-dark.png');
    await assertAccessible(page, 'room, dark');

    // The menus and dialogs of the page, dark then light.
    await page.getByRole('button', { name: /^Notifications/ }).click();
    await page.locator('#bell-menu').waitFor();
    await screenshot(page, 'bell-dark');
    await assertAccessible(page, 'bell menu, dark');
    await page.keyboard.press('Escape');
    await page.emulateMedia({ colorScheme: 'light' });
    const input = page.getByRole('textbox', { name: 'Message to #general' });
    await input.pressSequentially('@');
    await page.getByRole('listbox', { name: 'Mention someone' }).waitFor();
    await screenshot(page, 'mention-list');
    await assertAccessible(page, 'mention list');
    await input.fill('');
    await page.keyboard.press('Control+k');
    await page.getByRole('dialog', { name: 'Go to a room' }).waitFor();
    await screenshot(page, 'switcher');
    await assertAccessible(page, 'room switcher');
    await page.keyboard.press('Escape');
    await page.locator('#scroller').focus();
    await page.keyboard.press('?');
    await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, 'shortcuts-dark');
    await assertAccessible(page, 'shortcuts, dark');
    await page.keyboard.press('Escape');
    others.carol.send({ type: 'typing', room: 'general', active: false });
    aliceStorage = await page.context().storageState();
    await page.context().close();
  });

  it('works on a phone-sized screen, panels included', async () => {
    const page = await aliceScene(PHONE);
    assert.equal(await page.locator('#sidebar').isVisible(), false, 'the sidebar is tucked away');
    await page.locator('#composer-input').blur();
    await screenshot(page, 'phone');
    updateDocs('phone', 'screenshot-phone.png');
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, 'phone-dark');
    await assertAccessible(page, 'phone, dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await assertAccessible(page, 'phone');

    await page.getByRole('button', { name: 'Show rooms' }).click();
    await page.locator('#sidebar').getByRole('button', { name: 'general', exact: true }).waitFor();
    await page.waitForFunction(() => getComputedStyle(document.getElementById('sidebar')).transform === 'none');
    await screenshot(page, 'phone-rooms');
    await assertAccessible(page, 'phone, rooms open');
    await page.keyboard.press('Escape');
    await page.locator('#sidebar').waitFor({ state: 'hidden' });

    await page.getByRole('button', { name: /^Members in this room/ }).click();
    await page.locator('#members').getByText('carol').waitFor();
    await screenshot(page, 'phone-members');
    await page.getByRole('button', { name: 'Close members' }).click();
    await page.locator('#members').waitFor({ state: 'hidden' });

    await send(page, 'Sent from my phone');
    await page.locator('#messages .msg.own:not(.pending)', { hasText: 'Sent from my phone' }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(overflow, false, 'nothing wider than the screen');
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  it('can be used with the keyboard alone', async () => {
    const page = await newPage(browser);
    await page.goto(server.url);
    // The name dialog takes focus; Enter submits it and focus lands in the composer.
    await page.getByRole('dialog', { name: 'Welcome to Chat' }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'name-input');
    await page.keyboard.type('kim');
    await page.keyboard.press('Enter');
    await page.locator('#status[data-state="online"]').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'composer-input');
    await page.keyboard.type('typed with keys only');
    await page.keyboard.press('Enter');
    await page.locator('#messages .msg.own:not(.pending)', { hasText: 'typed with keys only' }).waitFor();

    // Tab reaches the join field; Enter joins and brings focus back to the composer.
    await tabTo(page, (el) => el.id === 'join-input');
    await page.keyboard.type('keyboard-room');
    await page.keyboard.press('Enter');
    await page.locator('#room-name', { hasText: 'keyboard-room' }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'composer-input');

    // Tab reaches a room in the list; Enter opens it.
    await tabTo(page, (el) => el.classList.contains('room-open') && el.dataset.room === 'general');
    await page.keyboard.press('Enter');
    await page.locator('#room-name', { hasText: 'general' }).waitFor();

    // The skip link, first in the page, leads back to the composer.
    await tabTo(page, (el) => el.classList.contains('skip-link'), 'Shift+Tab');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'composer-input');

    // Leaving every room leaves a way back.
    for (const room of ['keyboard-room', 'general']) {
      await tabTo(page, (el, name) => el.dataset.leave === name, 'Tab', room);
      await page.keyboard.press('Enter');
      await page.locator(`#room-list li[data-room="${room}"]`).waitFor({ state: "detached" });
    }
    await page.getByRole('heading', { name: 'You are not in any room' }).waitFor();
    await screenshot(page, 'no-room');
    await tabTo(page, (el) => el.id === 'join-general');
    await page.keyboard.press('Enter');
    await page.locator('#status[data-state="online"]').waitFor();
    await page.locator('#messages .msg-text', { hasText: 'typed with keys only' }).waitFor();
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
});

/** With E2E_UPDATE_DOCS=1, copies artifacts/`shot`.png to docs/`name` (the README's pictures). */
function updateDocs(shot, name) {
  if (process.env.E2E_UPDATE_DOCS !== '1') return;
  fs.mkdirSync(path.join(repoRoot, 'docs'), { recursive: true });
  fs.copyFileSync(path.join(artifacts, `${shot}.png`), path.join(repoRoot, 'docs', name));
}

/**
 * Presses Tab (or `key`) until the focused element satisfies `predicate(element, arg)`, which
 * runs in the page (at most 40 presses).
 */
async function tabTo(page, predicate, key = 'Tab', arg = null) {
  for (let i = 0; i < 40; i += 1) {
    await page.keyboard.press(key);
    if (await page.evaluate(`(${predicate})(document.activeElement, ${JSON.stringify(arg)})`)) return;
  }
  throw new Error(`Tab never reached ${predicate}`);
}
