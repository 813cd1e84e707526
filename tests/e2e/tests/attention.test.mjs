// What brings a user back: unread kept across visits (badge, "New messages" divider, the view
// opened there), the count in the tab's title and favicon, desktop notifications by each
// room's bell (permission asked only when a bell is turned on), and @mentions (completion,
// highlight, badge).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { WAIT, expectMessages, launchBrowser, newPage, openChat, send, waitOnline } from '../lib/browser.mjs';
import { startServer } from '../lib/server.mjs';
import { connectClient } from '../lib/ws-client.mjs';

/**
 * Lets a test hide and show the tab (headless Chromium keeps every page visible) and records
 * the notifications the page creates and the permission requests it makes.
 */
/** Picks `choice` in the room's bell menu and closes the menu. */
async function setBell(page, choice) {
  if (await page.locator('#bell-menu').isHidden()) await page.getByRole('button', { name: /^Notifications/ }).click();
  await page.getByRole('radio', { name: choice }).check();
  await page.keyboard.press('Escape');
  await page.locator('#bell-menu').waitFor({ state: 'hidden' });
}

function instrument() {
  let hidden = false;
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => hidden });
  Object.defineProperty(Document.prototype, 'visibilityState', {
    configurable: true,
    get: () => (hidden ? 'hidden' : 'visible'),
  });
  window.__setHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event('visibilitychange'));
  };
  window.__notes = [];
  window.__asks = 0;
  const Real = window.Notification;
  class Recorded extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notes.push({ title, body: options?.body });
      window.__noteObjects = [...(window.__noteObjects ?? []), this];
    }
    static requestPermission(...args) {
      window.__asks += 1;
      return Real.requestPermission(...args);
    }
  }
  window.Notification = Recorded;
}

describe('attention', () => {
  let server;
  let browser;
  let bob;

  before(async () => {
    server = await startServer({ env: { CHAT__LIMITS__MESSAGES_PER_SEC: '1000', CHAT__LIMITS__BURST: '1000' } });
    browser = await launchBrowser();
    bob = await connectClient(server.addr, 'bob');
    await bob.join('general');
    await bob.join('random');
  });

  after(async () => {
    bob?.close();
    await browser?.close();
    await server?.stop();
  });

  it('keeps unread across visits and opens the room at the first unread message', async () => {
    const old = Array.from({ length: 40 }, (_, i) => `old ${i + 1}`);
    for (const text of old) await bob.say('general', text);
    let page = await newPage(browser);
    await openChat(page, server.url, 'alice');
    const join = page.getByRole('textbox', { name: 'Join a room' });
    await join.fill('random');
    await join.press('Enter');
    await page.getByRole('button', { name: 'general', exact: true }).click();
    await expectMessages(page, old);
    const storage = await page.context().storageState();
    await page.context().close();

    // While alice's tab is closed: 30 messages in general, 2 in random.
    const missed = Array.from({ length: 30 }, (_, i) => `missed ${i + 1}`);
    for (const text of missed) await bob.say('general', text);
    await bob.say('random', 'random one');
    await bob.say('random', 'random two');

    page = await newPage(browser, { storageState: storage });
    await page.goto(server.url);
    await waitOnline(page);
    await page.getByRole('button', { name: 'random 2 unread' }).waitFor();
    await page.locator('#messages .msg-text', { hasText: 'missed 30' }).waitFor();
    // The divider sits right above the first message she had not seen…
    const divider = page.locator('#messages .new-divider');
    assert.equal(await divider.textContent(), 'New messages');
    assert.equal(
      await divider.evaluate((d) => d.nextElementSibling.querySelector('.msg-text')?.textContent),
      'missed 1',
    );
    // …and the view opened there, not at the bottom.
    const place = await page.evaluate(() => {
      const scroller = document.getElementById('scroller');
      const d = document.querySelector('.new-divider').getBoundingClientRect();
      const s = scroller.getBoundingClientRect();
      return { inView: d.top >= s.top && d.bottom <= s.bottom, atBottom: scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80 };
    });
    await page.screenshot({ path: 'artifacts/return-visit.png' });
    assert.deepEqual(place, { inView: true, atBottom: false });
    await page.locator('#jump').waitFor();
    // General was read on this visit: a reload finds nothing unread and no divider there.
    await page.getByRole('button', { name: 'random 2 unread' }).click();
    await page.locator('#messages .new-divider').waitFor();
    await page.reload();
    await waitOnline(page);
    await page.locator('#messages .msg-text', { hasText: 'random two' }).waitFor();
    assert.equal(await page.locator('#messages .new-divider').count(), 0);
    assert.equal(await page.locator('#room-list .badge:visible').count(), 0);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  it('counts in the title and favicon and notifies by each room’s bell', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(['notifications'], { origin: server.url.replace(/\/$/, '') });
    await context.addInitScript(instrument);
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await openChat(page, server.url, 'carol');
    await page.locator('#member-list', { hasText: 'bob' }).waitFor();
    assert.equal(await page.title(), '#general · Chat');
    assert.equal(await page.evaluate(() => window.__asks), 0, 'nothing is asked on load');

    await page.evaluate(() => window.__setHidden(true));
    // The bell's default is mentions: a plain message counts but does not notify, a mention does.
    await bob.say('general', 'plain news');
    await page.waitForFunction(() => document.title === '(1) #general · Chat');
    assert.match(await page.locator('link[rel="icon"]').getAttribute('href'), /^data:image\/svg\+xml,/);
    await bob.say('general', 'hey @carol, a question');
    await page.waitForFunction(() => window.__notes.length === 1);
    assert.deepEqual(await page.evaluate(() => window.__notes), [
      { title: 'bob mentioned you in #general', body: 'hey @carol, a question' },
    ]);
    await page.waitForFunction(() => document.title === '(@2) #general · Chat');
    assert.equal(await page.locator('link[rel="icon"]').getAttribute('data-badge'), '@');

    // Every message, then nothing.
    await page.evaluate(() => window.__setHidden(false));
    await page.waitForFunction(() => document.title === '#general · Chat');
    assert.equal(await page.locator('link[rel="icon"]').getAttribute('href'), 'favicon.svg');
    // What came while the tab was hidden is below the divider.
    assert.equal(
      await page.locator('#messages .new-divider').evaluate((d) => d.nextElementSibling.textContent.includes('plain news')),
      true,
    );
    await setBell(page, 'Every message');
    await page.getByRole('button', { name: 'Notifications: every message' }).waitFor();
    await page.evaluate(() => window.__setHidden(true));
    await bob.say('general', 'anything at all');
    await page.waitForFunction(() => window.__notes.length === 2);
    assert.deepEqual((await page.evaluate(() => window.__notes))[1], { title: 'bob in #general', body: 'anything at all' });
    await page.evaluate(() => window.__setHidden(false));
    await setBell(page, 'Nothing');
    await page.evaluate(() => window.__setHidden(true));
    await bob.say('general', '@carol muted');
    await page.waitForFunction(() => document.title === '(@1) #general · Chat');
    await bob.say('random', 'not her room');
    // Bell "all" is back for a final message: the muted one never showed.
    await page.evaluate(() => window.__setHidden(false));
    await setBell(page, 'Every message');
    await page.evaluate(() => window.__setHidden(true));
    await bob.say('general', 'last one');
    await page.waitForFunction(() => window.__notes.length >= 3);
    assert.deepEqual(
      (await page.evaluate(() => window.__notes)).map((n) => n.body),
      ['hey @carol, a question', 'anything at all', 'last one'],
    );
    assert.equal(await page.evaluate(() => window.__asks), 0, 'permission was already granted');

    // Clicking a notification opens its room.
    await page.evaluate(() => window.__setHidden(false));
    const join = page.getByRole('textbox', { name: 'Join a room' });
    await join.fill('random');
    await join.press('Enter');
    await page.locator('#room-name', { hasText: 'random' }).waitFor();
    await page.evaluate(() => window.__setHidden(true));
    await bob.say('general', 'come back @carol');
    await page.waitForFunction(() => window.__notes.length === 4);
    await page.evaluate(() => window.__noteObjects.at(-1).dispatchEvent(new Event('click')));
    await page.locator('#room-name', { hasText: 'general' }).waitFor();
    assert.deepEqual(errors, [], 'no page error');
    await context.close();
  });

  it('asks for permission only when a bell is turned on', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addInitScript(instrument);
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    await openChat(page, server.url, 'dora');
    assert.equal(await page.evaluate(() => window.__asks), 0);
    await page.getByRole('button', { name: /^Notifications/ }).click();
    await page.getByRole('radio', { name: 'Nothing' }).check();
    assert.equal(await page.evaluate(() => window.__asks), 0, 'turning it off asks nothing');
    await page.getByRole('radio', { name: 'Every message' }).check();
    await page.waitForFunction(() => window.__asks === 1);
    await context.close();
  });

  it('completes @mentions from the room and highlights mentions of me', async () => {
    const page = await newPage(browser);
    await openChat(page, server.url, 'erin');
    await page.locator('#member-list', { hasText: 'bob' }).waitFor();
    const input = page.getByRole('textbox', { name: 'Message to #general' });
    await input.fill('');
    await input.pressSequentially('thanks @bo');
    const option = page.getByRole('option', { name: 'bob' });
    await option.waitFor();
    assert.equal(await option.getAttribute('aria-selected'), 'true');
    assert.equal(await input.getAttribute('aria-activedescendant'), await option.getAttribute('id'));
    await input.press('Tab');
    assert.equal(await input.inputValue(), 'thanks @bob ');
    await page.getByRole('listbox', { name: 'Mention someone' }).waitFor({ state: 'hidden' });
    await input.pressSequentially('!');
    await input.press('Enter');
    await bob.waitForMessage('general', 'thanks @bob !');
    await page.locator('#messages .msg.own .mention', { hasText: '@bob' }).waitFor();

    // A mention of erin stands out, and counts as a mention on the room's badge.
    await bob.say('general', 'you too @Erin');
    const mine = page.locator('#messages .msg.mentioned', { hasText: 'you too' });
    await mine.locator('.mention-me', { hasText: '@Erin' }).waitFor();
    const join = page.getByRole('textbox', { name: 'Join a room' });
    await join.fill('random');
    await join.press('Enter');
    await page.locator('#room-name', { hasText: 'random' }).waitFor();
    await bob.say('general', 'plain');
    await bob.say('general', '@erin look');
    await page.getByRole('button', { name: 'general @ 2 unread, 1 mention' }).waitFor();
    // An e-mail address is not a mention.
    await page.getByRole('button', { name: /^general/ }).click();
    await bob.say('general', 'mail me at x@erin.example');
    await page.locator('#messages .msg-text', { hasText: 'mail me at' }).waitFor();
    assert.equal(await page.locator('#messages .msg', { hasText: 'mail me at' }).locator('.mention').count(), 0);
    await send(page, 'ok');
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
});
