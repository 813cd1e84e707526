// Faults injected between the page and a real server with Playwright's WebSocket routing:
// the page's socket passes through the test, which can read every frame, drop or repeat one,
// answer in the server's place, or close the socket with a chosen code.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import {
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * Routes the page's WebSockets through the test. `rules.toServer(frame, conn)` and
 * `rules.toPage(frame, conn)` may return 'drop' (or 'twice', toward the server).
 */
async function tap(page) {
  const conns = [];
  const rules = { toServer: () => null, toPage: () => null };
  await page.routeWebSocket(/\/ws\?/, (ws) => {
    const server = ws.connectToServer();
    const conn = { ws, server, sent: [], received: [] };
    conns.push(conn);
    ws.onMessage((message) => {
      const frame = JSON.parse(String(message));
      conn.sent.push(frame);
      const action = rules.toServer(frame, conn);
      if (action === 'drop') return;
      if (action === 'twice') server.send(message);
      server.send(message);
    });
    server.onMessage((message) => {
      const frame = JSON.parse(String(message));
      conn.received.push(frame);
      if (rules.toPage(frame, conn) === 'drop') return;
      ws.send(message);
    });
  });
  return { conns, rules };
}

/** Ends a routed connection on both sides: the page sees `code`, the server a vanished client. */
async function cut(conn, code) {
  await conn.ws.close({ code, reason: `test close ${code}` });
  await conn.server.close();
}

/** Waits (bounded) until `check()` is true; `check` reads test-side state, not the page. */
async function until(page, check, what, timeout = 10000) {
  const deadline = Date.now() + timeout;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    // The frames arrive through Playwright's routing; let its events run.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
  }
}

describe('fault injection', () => {
  let server;
  let browser;
  let bob;

  before(async () => {
    browser = await launchBrowser();
  });

  after(async () => {
    bob?.close();
    await browser?.close();
    await server?.stop();
  });

  // A fresh server per test: each starts from an empty room.
  beforeEach(async () => {
    bob?.close();
    await server?.stop();
    server = await startServer();
  });

  it('speaks the protocol: ids on sends, debounced typing, join with since after a 4008, 1001 or 1000 close', async () => {
    const alice = await newPage(browser);
    const { conns } = await tap(alice);
    await openChat(alice, server.url, 'alice');
    bob = await connectClient(server.addr, 'bob');
    await bob.join('general');
    await bob.say('general', 'one');
    await send(alice, 'two');
    await expectMessages(alice, ['one', 'two']);
    await alice.locator('.msg.pending').waitFor({ state: 'detached' });

    const first = conns[0].sent;
    assert.deepEqual(first.find((f) => f.type === 'join'), { type: 'join', room: 'general', id: 'join:general' });
    const sent = first.find((f) => f.type === 'send');
    assert.equal(sent.text, 'two');
    assert.match(sent.id, UUID);

    // Typing: one active:true for a burst of keys, one active:false on send.
    const input = alice.getByRole('textbox', { name: 'Message to #general' });
    const before = first.length;
    await input.pressSequentially('typing fast', { delay: 10 });
    await input.press('Enter');
    await expectMessages(alice, ['one', 'two', 'typing fast']);
    await alice.locator('.msg.pending').waitFor({ state: 'detached' });
    const typing = first.slice(before).filter((f) => f.type === 'typing');
    assert.deepEqual(typing.map((f) => f.active), [true, false]);

    // Every way the server ends a connection leads to a resume with `since`.
    let lastSeq = Math.max(...conns[0].received.filter((f) => f.type === 'message').map((f) => f.seq));
    for (const code of [4008, 1001, 1000]) {
      const conn = conns.at(-1);
      // The reconnecting state may last only a few hundred ms here: record every state the
      // status shows rather than sampling it.
      await alice.evaluate(() => {
        const status = document.getElementById('status');
        window.statesSeen = [];
        new MutationObserver(() => window.statesSeen.push(status.dataset.state)).observe(status, {
          attributes: true,
          attributeFilter: ['data-state'],
        });
      });
      await cut(conn, code);
      await alice.waitForFunction(() => window.statesSeen.includes('reconnecting'));
      await waitOnline(alice, 15000);
      await until(alice, () => conns.at(-1) !== conn && conns.at(-1).received.some((f) => f.type === 'joined'), 'a new join');
      const join = conns.at(-1).sent.find((f) => f.type === 'join');
      // One before the last seen seq: the answer repeats it, which proves the history is the same.
      assert.equal(join.since, lastSeq - 1, `join after ${code}`);
      await bob.say('general', `after ${code}`);
      await alice.locator('#messages .msg-text', { hasText: `after ${code}` }).waitFor();
      lastSeq += 1;
    }
    await expectMessages(alice, ['one', 'two', 'typing fast', 'after 4008', 'after 1001', 'after 1000']);
    assert.deepEqual(alice.problems, []);
    await alice.context().close();
  });

  it('resends a message whose echo never came with the same id; it is stored and shown once', async () => {
    const alice = await newPage(browser);
    const { conns, rules } = await tap(alice);
    await openChat(alice, server.url, 'alice');
    bob = await connectClient(server.addr, 'bob');
    await bob.join('general');
    await bob.say('general', 'start');
    await expectMessages(alice, ['start']);

    // 1. The send never reaches the server before the drop: after the reconnect the page sends
    //    it again with the same id, and here both copies reach the server.
    rules.toServer = (f, conn) => {
      if (f.type !== 'send' || f.text !== 'lost on the way') return null;
      return conn === conns[0] ? 'drop' : 'twice';
    };
    await send(alice, 'lost on the way');
    await until(alice, () => conns[0].sent.some((f) => f.text === 'lost on the way'), 'the first send');
    await cut(conns[0], 1001);
    await alice.locator('.msg.pending').waitFor({ state: 'detached', timeout: 15000 });

    // 2. The server stores the message but its echo is lost in the drop: the resume answer
    //    carries it, so the page settles it without sending it again.
    rules.toPage = (f) => (f.type === 'message' && f.text === 'echo lost' ? 'drop' : null);
    await send(alice, 'echo lost');
    await bob.waitFor((f) => f.type === 'message' && f.text === 'echo lost');
    await alice.locator('.msg.pending', { hasText: 'echo lost' }).waitFor();
    rules.toPage = () => null;
    await cut(conns.at(-1), 1001);
    await alice.locator('.msg.pending').waitFor({ state: 'detached', timeout: 15000 });

    await bob.say('general', 'end');
    await expectMessages(alice, ['start', 'lost on the way', 'echo lost', 'end']);
    for (const text of ['lost on the way', 'echo lost']) {
      assert.equal(bob.messages('general').filter((m) => m.text === text).length, 1, `${text} stored once`);
    }
    const sends = (text) => conns.flatMap((c) => c.sent).filter((f) => f.type === 'send' && f.text === text);
    const resent = sends('lost on the way');
    assert.equal(resent.length, 2, 'sent on the first connection and again after the drop');
    assert.equal(new Set(resent.map((f) => f.id)).size, 1, 'with the same id');
    assert.equal(sends('echo lost').length, 1, 'settled by the resume, not sent again');
    // The page got 'lost on the way' twice (the broadcast and the resend answer) and shows it once.
    const copies = conns[1].received.filter((f) => f.type === 'message' && f.text === 'lost on the way');
    assert.equal(copies.length, 2);
    assert.equal(copies[0].seq, copies[1].seq);
    assert.deepEqual(alice.problems, []);
    await alice.context().close();
  });

  it('shows server errors as readable notices and retries what was only rate limited', async () => {
    const alice = await newPage(browser);
    const { conns, rules } = await tap(alice);
    await openChat(alice, server.url, 'alice');
    bob = await connectClient(server.addr, 'bob');
    await bob.join('general');

    // rate_limited: the frame was dropped; the page says so and sends it again.
    let refused = 0;
    rules.toServer = (f, conn) => {
      if (f.type === 'send' && f.text === 'too quick' && refused === 0) {
        refused += 1;
        conn.ws.send(JSON.stringify({ type: 'error', code: 'rate_limited', message: 'more than 10 messages per second', ref: f.id }));
        return 'drop';
      }
      if (f.type === 'send' && f.text === 'refuse me') {
        conn.ws.send(JSON.stringify({ type: 'error', code: 'too_large', message: 'text too large', ref: f.id }));
        return 'drop';
      }
      return null;
    };
    await send(alice, 'too quick');
    await alice.locator('#notices').getByText('You are sending messages too fast').waitFor();
    await expectMessages(alice, ['too quick']);
    await alice.locator('.msg.pending').waitFor({ state: 'detached' });
    await bob.waitFor((f) => f.type === 'message' && f.text === 'too quick');

    // A refusal for good: the message stays, marked, until the user deletes it.
    await send(alice, 'refuse me');
    await alice.locator('#notices').getByText(/That message is too long \(at most 4096 bytes\)/).waitFor();
    const failed = alice.locator('.msg.failed', { hasText: 'refuse me' });
    await failed.getByText('Not sent: too long').waitFor();
    await screenshot(alice, 'error-notice');
    await failed.getByRole('button', { name: 'Delete unsent message' }).click();
    await failed.waitFor({ state: 'detached' });

    // An error the page did not cause still reads as a sentence, not a code.
    conns.at(-1).ws.send(JSON.stringify({ type: 'error', code: 'internal', message: 'db down' }));
    await alice.locator('#notices').getByText('The server had a problem').waitFor();
    assert.deepEqual(await messageTexts(alice), ['too quick']);
    assert.deepEqual(alice.problems, []);
    await alice.context().close();
  });
});
