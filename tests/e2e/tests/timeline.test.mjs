// The timeline and the small things seen in screenshots: join and leave lines (a run of them
// folded into one), the member count that matches the list, long messages collapsed behind
// "Show more", the counter saying how far over the limit a draft is, a join error that goes
// with what caused it, avatar colours from the user's id, a page exactly as tall as the
// window, and an emoji font.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newPage, openChat, screenshot } from '../lib/browser.mjs';
import { startServer } from '../lib/server.mjs';
import { connectClient } from '../lib/ws-client.mjs';

describe('timeline and details', () => {
  let server;
  let browser;
  let page;
  const clients = [];

  before(async () => {
    server = await startServer({ env: { CHAT__LIMITS__MESSAGES_PER_SEC: '1000', CHAT__LIMITS__BURST: '1000' } });
    browser = await launchBrowser();
    page = await newPage(browser);
    await openChat(page, server.url, 'alice');
  });

  after(async () => {
    for (const c of clients) c.close();
    await browser?.close();
    await server?.stop();
  });

  async function member(name) {
    const client = await connectClient(server.addr, name);
    clients.push(client);
    await client.join('general');
    return client;
  }

  /** The member count in the header, the button and the list title, and the list's length. */
  async function counts() {
    return page.evaluate(() => ({
      meta: Number(document.getElementById('room-meta').textContent.match(/^(\d+) member/)?.[1]),
      button: Number(document.getElementById('members-count').textContent),
      title: Number(document.getElementById('members-title').textContent.match(/(\d+)$/)?.[1]),
      list: document.querySelectorAll('#member-list .member').length,
    }));
  }

  it('shows joins and leaves, folds a run of them, and counts members as the list does', async () => {
    const bob = await member('bob');
    await page.locator('#messages .event', { hasText: 'bob joined' }).waitFor();
    assert.deepEqual(await counts(), { meta: 2, button: 2, title: 2, list: 2 });
    await bob.say('general', 'hi all');
    bob.send({ type: 'leave', room: 'general' });
    await page.locator('#messages .event', { hasText: 'bob left' }).waitFor();
    await page.locator('#member-list .member').nth(1).waitFor({ state: 'detached' });
    assert.deepEqual(await counts(), { meta: 1, button: 1, title: 1, list: 1 });

    // Five people come and two go, with no message since bob left: one folded line. (The
    // leaves wait until the page has seen the joins: the server drops a join and leave that
    // nobody saw.)
    const crowd = [];
    for (const name of ['carol', 'dave', 'erin', 'frank', 'gina']) crowd.push(await member(name));
    await page.locator('#member-list .member').nth(5).waitFor();
    for (const c of crowd.slice(0, 2)) c.send({ type: 'leave', room: 'general' });
    const folded = page.locator('#messages .events');
    await folded.locator('summary', { hasText: '5 people joined, 3 left (8 changes)' }).waitFor();
    assert.equal(await page.locator('#messages .event:not(.events)').count(), 1, 'only “bob joined” stands alone');
    assert.equal(await folded.locator('.event-lines li').first().isVisible(), false);
    await folded.locator('summary').click();
    const lines = (await folded.locator('.event-lines li').allTextContents()).map((t) => t.replace(/\s*\d.*$/, ''));
    // The two leaves were sent at once: either may arrive first.
    assert.deepEqual(lines.slice(0, 6), ['bob left', 'carol joined', 'dave joined', 'erin joined', 'frank joined', 'gina joined']);
    assert.deepEqual(lines.slice(6).sort(), ['carol left', 'dave left']);
    await page.locator('#member-list .member').nth(4).waitFor({ state: 'detached' });
    assert.deepEqual(await counts(), { meta: 4, button: 4, title: 4, list: 4 });
    await screenshot(page, 'timeline-events');
    assert.deepEqual(page.problems, []);
  });

  it('collapses a long message behind Show more', async () => {
    const [erin] = clients.filter((c) => c.frames[0].user.name === 'erin');
    const long = Array.from({ length: 40 }, (_, i) => `line ${i + 1} of a very long message`).join('\n');
    await erin.say('general', long);
    const bubble = page.locator('#messages .msg-bubble.long');
    await bubble.waitFor();
    const text = bubble.locator('.msg-text');
    const collapsed = await text.evaluate((el) => el.getBoundingClientRect().height);
    const viewport = await page.locator('#scroller').evaluate((el) => el.clientHeight);
    assert.ok(collapsed < viewport / 2, `collapsed to ${collapsed} px of a ${viewport} px view`);
    const more = bubble.getByRole('button', { name: 'Show more' });
    assert.equal(await more.getAttribute('aria-expanded'), 'false');
    await more.click();
    await bubble.getByRole('button', { name: 'Show less' }).waitFor();
    const open = await text.evaluate((el) => el.getBoundingClientRect().height);
    assert.ok(open > collapsed * 2, `opened to ${open} px`);
    assert.equal(await text.textContent(), long, 'nothing of it was lost');
    await screenshot(page, 'timeline-long');
  });

  it('says how far over the limit a draft is', async () => {
    const input = page.getByRole('textbox', { name: 'Message to #general' });
    await input.fill('x'.repeat(4096 - 10));
    assert.equal(await page.locator('#counter').textContent(), '10');
    await input.fill('x'.repeat(4096 + 25));
    assert.equal(await page.locator('#counter').textContent(), '−25');
    assert.equal(await page.locator('#counter').getAttribute('title'), '25 bytes over the limit');
    await input.fill('');
  });

  it('drops a join error once the field is cleared or fixed', async () => {
    const join = page.getByRole('textbox', { name: 'Join a room' });
    await join.fill('no spaces here');
    await join.press('Enter');
    const error = page.locator('#join-error');
    await error.waitFor();
    assert.equal(await join.getAttribute('aria-invalid'), 'true');
    await join.fill('');
    await error.waitFor({ state: 'hidden' });
    assert.equal(await join.getAttribute('aria-invalid'), 'false');
    await join.fill('bad name');
    await join.press('Enter');
    await error.waitFor();
    await join.fill('good-name');
    await error.waitFor({ state: 'hidden' });
    await join.fill('');
  });

  it('gives avatars colours from the id, over a wide palette', async () => {
    const tones = await page.evaluate(async () => {
      const { avatarTone } = await import('./js/dom.js');
      return Array.from({ length: 50 }, (_, i) => avatarTone(`u_${i + 1}`)).map((t) => `${t.hue}/${t.shade}`);
    });
    assert.ok(new Set(tones).size >= 45, `50 ids gave ${new Set(tones).size} colours`);
    // Two members with the same name still differ: the colour follows the id.
    const twins = await page.evaluate(async () => {
      const { avatar } = await import('./js/dom.js');
      const a = avatar('sam', '', 'u_a1');
      const b = avatar('sam', '', 'u_b2');
      return [a.style.getPropertyValue('--avatar-hue') + a.dataset.shade, b.style.getPropertyValue('--avatar-hue') + b.dataset.shade];
    });
    assert.notEqual(twins[0], twins[1]);
  });

  it('is exactly as tall as the window and never slides up', async () => {
    // Enough own messages that the hidden author labels would once have pushed the page down.
    for (let i = 0; i < 30; i += 1) {
      const input = page.getByRole('textbox', { name: 'Message to #general' });
      await input.fill(`mine ${i}`);
      await input.press('Enter');
    }
    await page.locator('#messages .msg.own:not(.pending)', { hasText: 'mine 29' }).waitFor();
    // Hidden author labels stay inside their message, where they take no room.
    const outside = await page.evaluate(() =>
      [...document.querySelectorAll('#messages .msg')].filter((m) => {
        const label = m.querySelector('.msg-author').getBoundingClientRect();
        const box = m.getBoundingClientRect();
        return label.bottom > box.bottom + 1 || label.top < box.top - 1;
      }).length,
    );
    assert.equal(outside, 0, 'author labels outside their message');
    // Scrolling an element into view moves the message list, never the whole app.
    await page.evaluate(() => document.querySelector('#messages .msg').scrollIntoView());
    await page.locator('.skip-link').focus();
    await page.locator('#join-input').focus();
    const layout = await page.evaluate(() => ({
      height: document.documentElement.scrollHeight,
      window: window.innerHeight,
      bodyScroll: document.body.scrollTop + document.documentElement.scrollTop,
      appTop: document.getElementById('app').getBoundingClientRect().top,
    }));
    assert.deepEqual(layout, { height: layout.window, window: layout.window, bodyScroll: 0, appTop: 0 });
    const font = await page.evaluate(() => getComputedStyle(document.body).fontFamily);
    assert.match(font, /"Noto Color Emoji"/);
    assert.deepEqual(page.problems, []);
  });
});
