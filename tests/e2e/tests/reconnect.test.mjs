// Losing the connection: a cut socket (through a proxy, so the server and its history carry
// on), messages lost to retention, and a real server restart on the same port.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

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
import { startProxy } from '../lib/proxy.mjs';
import { restartServer, startServer } from '../lib/server.mjs';
import { connectClient } from '../lib/ws-client.mjs';

/** Reconnecting waits for backoff (capped at 15 s); these bounds leave room for a few rounds. */
const RECONNECT_WAIT = 20000;

/** Asserts that `client` got `text` in `room` exactly once, after a later marker arrived. */
async function assertOnce(client, room, text, marker) {
  await client.waitForMessage(room, marker);
  const copies = client.messages(room).filter((m) => m.text === text);
  assert.equal(copies.length, 1, `${text} should arrive once, got ${copies.length}`);
}

describe('a cut connection', () => {
  let server;
  let proxy;
  let browser;

  before(async () => {
    server = await startServer();
    proxy = await startProxy(server.port);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.stop();
  });

  it('reconnects, shows what was missed once each in order, and delivers what was typed offline once', async () => {
    const alice = await newPage(browser);
    await openChat(alice, proxy.url, 'alice');
    const bob = await connectClient(server.addr, 'bob');
    await bob.join('general');
    await bob.say('general', 'before 1');
    await send(alice, 'before 2');
    await expectMessages(alice, ['before 1', 'before 2']);
    await alice.locator('#messages .msg.own:not(.pending)').waitFor();

    proxy.cutWebSockets();
    await alice.locator('#status[data-state="reconnecting"]').waitFor();
    await alice.locator('#offline').waitFor();
    for (const text of ['missed 1', 'missed 2', 'missed 3']) await bob.say('general', text);
    await send(alice, 'typed offline');
    await alice.locator('.msg.pending', { hasText: 'typed offline' }).getByText('Waiting for connection…').waitFor();
    await screenshot(alice, 'reconnecting');

    proxy.restore();
    await waitOnline(alice, RECONNECT_WAIT);
    await expectMessages(alice, ['before 1', 'before 2', 'missed 1', 'missed 2', 'missed 3', 'typed offline']);
    await alice.locator('.msg.pending').waitFor({ state: 'detached' });
    await send(alice, 'after');
    await assertOnce(bob, 'general', 'typed offline', 'after');
    await expectMessages(alice, ['before 1', 'before 2', 'missed 1', 'missed 2', 'missed 3', 'typed offline', 'after']);
    bob.close();
    assert.deepEqual(alice.problems, []);
    await alice.context().close();
  });

  it('keeps messages typed offline across a reload and sends them once back online', async () => {
    const alice = await newPage(browser);
    await openChat(alice, proxy.url, 'alice');
    const bob = await connectClient(server.addr, 'bob');
    await bob.join('general');

    proxy.cutWebSockets();
    await alice.locator('#status[data-state="reconnecting"]').waitFor();
    await send(alice, 'survives a reload');
    await alice.locator('.msg.pending', { hasText: 'survives a reload' }).waitFor();
    await alice.reload();
    // The page comes back from the server's HTTP, still without a socket: the outbox is kept.
    await alice.locator('.msg.pending', { hasText: 'survives a reload' }).waitFor();
    assert.notEqual(await alice.locator('#status').getAttribute('data-state'), 'online');

    proxy.restore();
    await waitOnline(alice, RECONNECT_WAIT);
    await alice.locator('.msg.pending').waitFor({ state: 'detached' });
    await send(alice, 'marker');
    await assertOnce(bob, 'general', 'survives a reload', 'marker');
    const texts = await messageTexts(alice);
    assert.equal(texts.filter((t) => t === 'survives a reload').length, 1);
    bob.close();
    assert.deepEqual(alice.problems, []);
    await alice.context().close();
  });
});

describe('messages lost to retention', () => {
  let server;
  let proxy;
  let browser;

  before(async () => {
    server = await startServer({ env: { CHAT__HISTORY__MAX_PER_ROOM: '3' } });
    proxy = await startProxy(server.port);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.stop();
  });

  it('says that some messages could not be recovered (complete: false)', async () => {
    const alice = await newPage(browser);
    await openChat(alice, proxy.url, 'alice');
    const bob = await connectClient(server.addr, 'bob');
    await bob.join('general');
    await bob.say('general', 'kept 1');
    await expectMessages(alice, ['kept 1']);

    proxy.cutWebSockets();
    await alice.locator('#status[data-state="reconnecting"]').waitFor();
    // The room keeps its last 3 messages: r1..r3 are gone when alice comes back.
    for (let i = 1; i <= 6; i += 1) await bob.say('general', `r${i}`);
    proxy.restore();
    await waitOnline(alice, RECONNECT_WAIT);
    await expectMessages(alice, ['kept 1', 'r4', 'r5', 'r6']);
    await alice.locator('#messages .gap-divider').getByText('Some messages could not be recovered').waitFor();
    await alice.locator('#notices').getByText(/could not be recovered/).waitFor();
    // The marker sits between what was seen and what came back.
    const order = await alice
      .locator('#messages > li')
      .evaluateAll((els) => els.map((e) => (e.classList.contains('gap-divider') ? 'GAP' : e.querySelector('.msg-text')?.textContent)).filter(Boolean));
    assert.deepEqual(order, ['kept 1', 'GAP', 'r4', 'r5', 'r6']);
    await screenshot(alice, 'gap');
    bob.close();
    assert.deepEqual(alice.problems, []);
  });
});

describe('a server restart', () => {
  let server;
  let browser;

  before(async () => {
    // The server's default history backend, on a data dir both runs share: with durable
    // history the old messages survive the restart, with memory history they do not.
    server = await startServer({ memory: false });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows reconnecting, comes back, and shows every message once, in order', async () => {
    const alice = await newPage(browser);
    const bob = await newPage(browser);
    await openChat(alice, server.url, 'alice');
    await openChat(bob, server.url, 'bob');
    await send(alice, 'old 1');
    await expectMessages(bob, ['old 1']);
    await send(bob, 'old 2');
    await expectMessages(alice, ['old 1', 'old 2']);

    const { port, dataDir } = server;
    const exit = await server.stop();
    assert.equal(exit.code, 0, 'SIGTERM is a clean shutdown');
    for (const page of [alice, bob]) await page.locator('#status[data-state="reconnecting"]').waitFor();
    await send(alice, 'while down');
    await alice.locator('.msg.pending', { hasText: 'while down' }).waitFor();

    server = await restartServer(port, { dataDir, memory: false });
    const carol = await connectClient(server.addr, 'carol');
    const joined = await carol.join('general');
    const kept = joined.history.some((m) => m.text === 'old 1');
    for (const text of ['new 1', 'new 2', 'new 3']) await carol.say('general', text);

    for (const page of [alice, bob]) {
      await waitOnline(page, RECONNECT_WAIT);
      await page.locator('#messages .msg .msg-text', { hasText: 'new 3' }).waitFor();
      await page.locator('#messages .msg .msg-text', { hasText: 'while down' }).waitFor();
    }
    await alice.locator('.msg.pending').waitFor({ state: 'detached' });
    await carol.waitForMessage('general', 'while down');
    await carol.say('general', 'marker');

    for (const page of [alice, bob]) {
      await page.locator('#messages .msg .msg-text', { hasText: 'marker' }).waitFor();
      const texts = await messageTexts(page);
      for (const text of ['old 1', 'old 2', 'while down', 'new 1', 'new 2', 'new 3', 'marker']) {
        assert.equal(texts.filter((t) => t === text).length, 1, `${text} once in ${JSON.stringify(texts)}`);
      }
      assert.deepEqual(texts.slice(0, 2), ['old 1', 'old 2']);
      assert.deepEqual(texts.filter((t) => t.startsWith('new ')), ['new 1', 'new 2', 'new 3']);
      assert.equal(texts.at(-1), 'marker');
      // Memory history starts over after a restart: the page says so instead of mixing seqs.
      assert.equal(await page.locator('#messages .reset-divider').count(), kept ? 0 : 1);
    }
    assert.equal(carol.messages('general').filter((m) => m.text === 'while down').length, 1);
    await screenshot(alice, 'after-restart');
    carol.close();
    assert.deepEqual(alice.problems, []);
    assert.deepEqual(bob.problems, []);
  });
});
