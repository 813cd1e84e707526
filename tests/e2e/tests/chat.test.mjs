// Everyday chat: two people in a room, reload, rooms and unread counts, history paging,
// untrusted text, keyboard use.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  WAIT,
  expectMessages,
  launchBrowser,
  messageTexts,
  newPage,
  openChat,
  screenshot,
  send,
  waitOnline,
} from '../lib/browser.mjs';
import { startServer } from '../lib/server.mjs';
import { connectClient } from '../lib/ws-client.mjs';

describe('chat page', () => {
  let server;
  let browser;
  const pages = [];

  before(async () => {
    // Seeding 120 messages at once needs more than the default 10/s.
    server = await startServer({
      env: { CHAT__LIMITS__MESSAGES_PER_SEC: '1000', CHAT__LIMITS__BURST: '1000' },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function user(name) {
    const page = await newPage(browser);
    pages.push(page);
    await openChat(page, server.url, name);
    return page;
  }

  function assertNoProblems(page) {
    assert.deepEqual(page.problems, [], 'console errors, page errors or CSP violations');
  }

  it('two people see each other’s messages, presence and typing', async () => {
    const alice = await user('alice');
    const bob = await user('bob');
    await alice.locator('#member-list', { hasText: 'bob' }).waitFor();
    await bob.locator('#member-list', { hasText: 'alice' }).waitFor();
    assert.match(await alice.locator('#room-meta').textContent(), /2 members/);

    // Typing shows on the other side, and the message clears it.
    await bob.getByRole('textbox', { name: 'Message to #general' }).fill('hi al');
    await alice.getByText('bob is typing…').waitFor();
    await send(bob, 'hi alice');
    await expectMessages(alice, ['hi alice']);
    await alice.getByText('bob is typing…').waitFor({ state: 'detached' });
    // Screen readers hear new messages through the live region.
    await alice.locator('#announcer[aria-live="polite"]', { hasText: 'bob: hi alice' }).waitFor({ state: 'attached' });
    await send(alice, 'hello bob');
    await expectMessages(bob, ['hi alice', 'hello bob']);
    await expectMessages(alice, ['hi alice', 'hello bob']);

    // Own messages are told apart, and every message has its author and time.
    assert.deepEqual(
      await alice.locator('#messages .msg').evaluateAll((els) => els.map((e) => e.classList.contains('own'))),
      [false, true],
    );
    const first = alice.locator('#messages .msg').first();
    assert.equal(await first.locator('.msg-author').textContent(), 'bob');
    assert.match(await first.locator('time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT/);
    await alice.locator('#messages .msg.own:not(.pending)').waitFor();

    // Typing stops by itself after a few seconds of silence.
    await bob.getByRole('textbox', { name: 'Message to #general' }).fill('still think');
    await alice.getByText('bob is typing…').waitFor();
    await alice.getByText('bob is typing…').waitFor({ state: 'detached', timeout: 9000 });
    await screenshot(alice, 'chat-two-users');

    // Bob leaving the page is a presence leave for alice.
    await bob.context().close();
    pages.splice(pages.indexOf(bob), 1);
    await alice.locator('#member-list', { hasText: 'bob' }).waitFor({ state: 'detached' });
    assertNoProblems(alice);
  });

  it('a reload keeps the name and shows the history', async () => {
    const alice = pages[0];
    await alice.reload();
    await waitOnline(alice);
    assert.equal(await alice.getByRole('dialog').count(), 0, 'no name dialog after a reload');
    assert.equal(await alice.locator('#me-name').textContent(), 'alice');
    await expectMessages(alice, ['hi alice', 'hello bob']);
    // Its own message from before the reload (another connection, another user id) is still its own.
    assert.equal(await alice.locator('#messages .msg.own .msg-text').textContent(), 'hello bob');
    assertNoProblems(alice);
  });

  it('joins rooms, counts unread messages of rooms not in view, and leaves', async () => {
    const alice = pages[0];
    const carol = await connectClient(server.addr, 'carol');
    await carol.join('random');

    const join = alice.getByRole('textbox', { name: 'Join a room' });
    await join.fill('#random');
    await join.press('Enter');
    await alice.locator('#room-name', { hasText: 'random' }).waitFor();
    await alice.locator('#member-list', { hasText: 'carol' }).waitFor();

    await alice.getByRole('button', { name: 'general', exact: true }).click();
    await alice.locator('#room-name', { hasText: 'general' }).waitFor();
    await carol.say('random', 'anyone here?');
    await carol.say('random', 'hello?');
    const random = alice.getByRole('button', { name: 'random 2 unread' });
    await random.waitFor();
    assert.match(await alice.title(), /^\(2\)/);
    await random.click();
    await expectMessages(alice, ['anyone here?', 'hello?']);
    await alice.getByRole('button', { name: 'random', exact: true }).waitFor();

    const from = carol.frames.length;
    await alice.getByRole('button', { name: 'Leave random' }).click();
    await carol.waitFor((f) => f.type === 'presence' && f.event === 'leave' && f.user.name === 'alice', { from });
    assert.equal(await alice.locator('#room-list .room').count(), 1);
    await alice.locator('#room-name', { hasText: 'general' }).waitFor();
    carol.close();
    assertNoProblems(alice);
  });

  it('loads older history when scrolling up, each message once', async () => {
    const alice = pages[0];
    const seeder = await connectClient(server.addr, 'seeder');
    await seeder.join('busy');
    const texts = Array.from({ length: 120 }, (_, i) => `busy message ${i + 1}`);
    for (const text of texts) seeder.send({ type: 'send', room: 'busy', text });
    await seeder.waitFor((f) => f.type === 'message' && f.text === texts.at(-1));
    seeder.close();

    const join = alice.getByRole('textbox', { name: 'Join a room' });
    await join.fill('busy');
    await join.press('Enter');
    // The join brings the latest page; what scrolling up fetches comes on top of it.
    await alice.locator('#messages .msg .msg-text', { hasText: 'busy message 120' }).waitFor();
    await alice.waitForFunction(
      () => {
        const scroller = document.getElementById('scroller');
        scroller.scrollTop = 0;
        return document.querySelector('#messages .room-start') !== null;
      },
      null,
      { timeout: WAIT },
    );
    await expectMessages(alice, texts);
    assertNoProblems(alice);
  });

  it('renders untrusted text as text and links only http(s) URLs', async () => {
    const alice = pages[0];
    await alice.getByRole('button', { name: 'general', exact: true }).click();
    const mallory = await connectClient(server.addr, 'mallory');
    await mallory.join('general');
    const payloads = [
      '<img src=x onerror="window.__xss = 1">',
      '<script>window.__xss = 2</script><b>bold?</b>',
      'javascript:window.__xss=3 and data:text/html,<h1>x</h1>',
      'docs at https://example.com/a_(b)?q=1&r=2, thanks',
    ];
    for (const text of payloads) await mallory.say('general', text);
    await expectMessages(alice, ['hi alice', 'hello bob', ...payloads]);
    assert.equal(await alice.locator('#messages img, #messages script, #messages b, #messages h1').count(), 0);
    assert.equal(await alice.evaluate(() => window.__xss), undefined);
    const links = alice.locator('#messages a');
    assert.equal(await links.count(), 1);
    assert.equal(await links.getAttribute('href'), 'https://example.com/a_(b)?q=1&r=2');
    assert.equal(await links.textContent(), 'https://example.com/a_(b)?q=1&r=2');
    assert.match(await links.getAttribute('rel'), /noopener/);
    assert.equal(await links.getAttribute('target'), '_blank');
    await screenshot(alice, 'chat-untrusted-text');
    mallory.close();
    assertNoProblems(alice);
  });

  it('sends with Enter and makes a new line with Shift+Enter', async () => {
    const alice = pages[0];
    const input = alice.getByRole('textbox', { name: 'Message to #general' });
    await input.focus();
    await alice.keyboard.type('line one');
    await alice.keyboard.press('Shift+Enter');
    await alice.keyboard.type('line two');
    assert.equal(await input.inputValue(), 'line one\nline two');
    await alice.keyboard.press('Enter');
    await alice.locator('#messages .msg.own:not(.pending) .msg-text', { hasText: 'line two' }).waitFor();
    assert.equal((await messageTexts(alice)).at(-1), 'line one\nline two');
    assert.equal(await input.inputValue(), '');
    assert.ok(await input.evaluate((el) => el === document.activeElement), 'focus stays in the composer');
    assertNoProblems(alice);
  });
});
