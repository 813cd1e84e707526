// Changes to messages: edit in place, delete with a confirmation, reactions (picker, chips that
// toggle), watched live by a second person and after a reload; the keyboard path (E, Delete,
// R on a focused message; ↑ in the empty composer); a long press on a touch screen; refusals
// in words; changes made offline sent once after the reconnect; axe on every new piece.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertAccessible } from '../lib/axe.mjs';
import {
  expectMessages,
  launchBrowser,
  newPage,
  openChat,
  screenshot,
  sendEchoed,
  waitOnline,
} from '../lib/browser.mjs';
import { startProxy } from '../lib/proxy.mjs';
import { startServer } from '../lib/server.mjs';
import { connectClient } from '../lib/ws-client.mjs';

/** Reconnecting waits for backoff (capped at 15 s); this bound leaves room for a few rounds. */
const RECONNECT_WAIT = 20000;
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

/** The row of the (first) message showing `text`. */
function row(page, text) {
  return page.locator('#messages .msg[data-seq]', { hasText: text }).first();
}

/** Hovers the message showing `text` and clicks the action named `name` in its bar. */
async function act(page, text, name) {
  const message = row(page, text);
  await message.hover();
  await message.getByRole('toolbar', { name: 'Message actions' }).getByRole('button', { name }).click();
}

/** The reaction chips of the message showing `text`: "emoji count" (+ " mine" when pressed). */
function chips(page, text) {
  return row(page, text)
    .locator('.reaction')
    .evaluateAll((nodes) =>
      nodes.map((n) => `${n.dataset.emoji} ${n.querySelector('.reaction-count').textContent}${n.getAttribute('aria-pressed') === 'true' ? ' mine' : ''}`),
    );
}

/** Waits until the chips of the message showing `text` are `expected` (see chips()). */
async function expectChips(page, text, expected) {
  try {
    await page.waitForFunction(
      ([t, want]) => {
        const rows = [...document.querySelectorAll('#messages .msg[data-seq]')].filter((r) => r.textContent.includes(t));
        if (!rows.length) return false;
        const shown = [...rows[0].querySelectorAll('.reaction')].map(
          (n) => `${n.dataset.emoji} ${n.querySelector('.reaction-count').textContent}${n.getAttribute('aria-pressed') === 'true' ? ' mine' : ''}`,
        );
        return JSON.stringify(shown) === JSON.stringify(want);
      },
      [text, expected],
    );
  } catch (e) {
    throw new Error(`expected chips ${JSON.stringify(expected)} on "${text}", the page shows ${JSON.stringify(await chips(page, text))}\n(${e.message.split('\n')[0]})`);
  }
}

/** Waits for a notice that says `text` (a substring). */
async function expectNotice(page, text) {
  await page.locator('#notices .notice-text', { hasText: text }).waitFor();
}

/** The element with focus: 'row:<text>', 'input:<label>', or its id. */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (el?.matches('.msg[data-seq]')) return `row:${el.querySelector('.msg-text').textContent}`;
    if (el?.labels?.length) return `input:${el.labels[0].textContent}`;
    return el?.id || el?.textContent || el?.tagName;
  });
}

describe('changes to messages', () => {
  let server;
  let browser;

  before(async () => {
    // A roomy rate limit: one test fills a room past what a join brings, from one connection.
    server = await startServer({ env: { CHAT__LIMITS__MESSAGES_PER_SEC: '100', CHAT__LIMITS__BURST: '100' } });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Alice and Bob in `room`, each in a page of their own. */
  async function pair(room, options = {}) {
    const alice = await openChat(await newPage(browser, options), `${server.url}#${room}`, 'alice');
    const bob = await openChat(await newPage(browser, options), `${server.url}#${room}`, 'bob');
    return { alice, bob };
  }

  it('edits in place, seen live by the other person and after a reload', async () => {
    const { alice, bob } = await pair('edits');
    await sendEchoed(alice, 'helo wrold');
    await expectMessages(bob, ['helo wrold']);

    // Only the author is offered edit and delete.
    await row(bob, 'helo wrold').hover();
    const bobBar = row(bob, 'helo wrold').getByRole('toolbar', { name: 'Message actions' });
    await bobBar.getByRole('button', { name: 'Add a reaction (R)' }).waitFor();
    assert.equal(await bobBar.getByRole('button', { name: 'Edit message (E)' }).count(), 0);
    assert.equal(await bobBar.getByRole('button', { name: 'Delete message (Delete)' }).count(), 0);

    await act(alice, 'helo wrold', 'Edit message (E)');
    const editor = alice.getByRole('textbox', { name: 'Edit message' });
    assert.equal(await editor.inputValue(), 'helo wrold');
    await editor.fill('hello **world**');
    await editor.press('Enter');
    for (const page of [alice, bob]) {
      await expectMessages(page, ['hello world']);
      await row(page, 'hello world').locator('.msg-edited', { hasText: '(edited)' }).waitFor();
      assert.equal(await row(page, 'hello world').locator('.msg-text strong').textContent(), 'world');
    }
    assert.equal(await focused(alice), 'row:hello world', 'focus is back on the message');

    // Esc cancels: nothing changes.
    await act(alice, 'hello world', 'Edit message (E)');
    await editor.fill('not this');
    await editor.press('Escape');
    await editor.waitFor({ state: 'detached' });
    await expectMessages(alice, ['hello world']);

    // Untrusted text in an edit is text.
    await sendEchoed(alice, 'second');
    await act(alice, 'second', 'Edit message (E)');
    await editor.fill('<img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>');
    await editor.press('Enter');
    await expectMessages(bob, ['hello world', '<img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>']);
    assert.equal(await bob.locator('#messages .msg-text img, #messages .msg-text script').count(), 0);
    assert.equal(await bob.evaluate(() => window.pwned), undefined);

    await bob.reload();
    await waitOnline(bob);
    await expectMessages(bob, ['hello world', '<img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>']);
    assert.equal(await bob.locator('#messages .msg-edited', { hasText: '(edited)' }).count(), 2);
    await screenshot(bob, 'changes-edited');
    assert.deepEqual(alice.problems, []);
    assert.deepEqual(bob.problems, []);
    await alice.context().close();
    await bob.context().close();
  });

  it('reacts from the picker and with chips that toggle, live and after a reload', async () => {
    const { alice, bob } = await pair('reactions');
    await sendEchoed(bob, 'lunch?');
    await expectMessages(alice, ['lunch?']);

    await act(alice, 'lunch?', 'Add a reaction (R)');
    const picker = alice.getByRole('dialog', { name: 'Add a reaction' });
    await picker.getByRole('button', { name: '👍' }).click();
    await picker.waitFor({ state: 'hidden' });
    await expectChips(alice, 'lunch?', ['👍 1 mine']);
    await expectChips(bob, 'lunch?', ['👍 1']);

    // Bob's click on the chip adds his; Alice's on hers takes hers back.
    await row(bob, 'lunch?').getByRole('button', { name: /^👍 1/ }).click();
    await expectChips(bob, 'lunch?', ['👍 2 mine']);
    await expectChips(alice, 'lunch?', ['👍 2 mine']);
    await row(alice, 'lunch?').getByRole('button', { name: /^👍 2/ }).click();
    await expectChips(alice, 'lunch?', ['👍 1']);
    await expectChips(bob, 'lunch?', ['👍 1 mine']);

    // Any other emoji through the field; something that is not one is refused before sending.
    await act(bob, 'lunch?', 'Add a reaction (R)');
    const bobPicker = bob.getByRole('dialog', { name: 'Add a reaction' });
    const other = bobPicker.getByRole('textbox', { name: 'Any other emoji' });
    await other.fill('two words');
    await other.press('Enter');
    await bobPicker.getByText('without spaces').waitFor();
    await other.fill('🦀');
    await other.press('Enter');
    await bobPicker.waitFor({ state: 'hidden' });
    await expectChips(alice, 'lunch?', ['👍 1', '🦀 1']);
    await expectChips(bob, 'lunch?', ['👍 1 mine', '🦀 1 mine']);
    const label = await row(alice, 'lunch?').locator('.reaction').first().getAttribute('aria-label');
    assert.match(label, /👍 1 \(bob\)/, 'the chip says who reacted');

    await alice.reload();
    await waitOnline(alice);
    await expectChips(alice, 'lunch?', ['👍 1', '🦀 1']);
    assert.deepEqual(alice.problems, []);
    assert.deepEqual(bob.problems, []);
    await alice.context().close();
    await bob.context().close();
  });

  it('deletes after a confirmation: a placeholder for everyone, also after a reload', async () => {
    const { alice, bob } = await pair('deletes');
    await sendEchoed(alice, 'secret plan');
    await sendEchoed(alice, 'keep me');
    await expectMessages(bob, ['secret plan', 'keep me']);
    await act(bob, 'secret plan', 'Add a reaction (R)');
    await bob.getByRole('dialog', { name: 'Add a reaction' }).getByRole('button', { name: '🎉' }).click();
    await expectChips(alice, 'secret plan', ['🎉 1']);

    // Cancel keeps it.
    await act(alice, 'secret plan', 'Delete message (Delete)');
    const confirm = alice.getByRole('dialog', { name: 'Delete this message?' });
    await confirm.getByText('secret plan').waitFor();
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'hidden' });
    await expectMessages(alice, ['secret plan', 'keep me']);

    await act(alice, 'secret plan', 'Delete message (Delete)');
    await confirm.getByRole('button', { name: 'Delete' }).click();
    for (const page of [alice, bob]) {
      await expectMessages(page, ['Message deleted', 'keep me']);
      assert.equal(await row(page, 'Message deleted').locator('.reaction').count(), 0, 'its reactions went with it');
    }
    await row(alice, 'Message deleted').hover();
    assert.equal(await row(alice, 'Message deleted').getByRole('toolbar').count(), 0, 'a deleted message offers nothing');

    await bob.reload();
    await waitOnline(bob);
    await expectMessages(bob, ['Message deleted', 'keep me']);
    assert.deepEqual(alice.problems, []);
    assert.deepEqual(bob.problems, []);
    await alice.context().close();
    await bob.context().close();
  });

  it('works from the keyboard: ↑ in the empty composer, then E, R, Delete and arrows on a message', async () => {
    const { alice, bob } = await pair('keys');
    await sendEchoed(alice, 'first');
    await sendEchoed(alice, 'second line');
    const composer = alice.getByRole('textbox', { name: 'Message to #keys' });
    await composer.focus();

    // ↑ in the empty composer edits the last message of one's own.
    await alice.keyboard.press('ArrowUp');
    assert.equal(await focused(alice), 'input:Edit message');
    await alice.keyboard.press('Control+a');
    await alice.keyboard.type('second, edited');
    await alice.keyboard.press('Enter');
    await expectMessages(bob, ['first', 'second, edited']);
    assert.equal(await focused(alice), 'row:second, edited');

    // R opens the picker on the focused message; Enter picks the first emoji.
    await alice.keyboard.press('r');
    const picker = alice.getByRole('dialog', { name: 'Add a reaction' });
    await picker.waitFor();
    await alice.keyboard.press('Enter');
    await picker.waitFor({ state: 'hidden' });
    await expectChips(bob, 'second, edited', ['👍 1']);
    assert.equal(await focused(alice), 'row:second, edited');

    // ↑ moves to the message above; E edits it and Esc leaves it as it was.
    await alice.keyboard.press('ArrowUp');
    assert.equal(await focused(alice), 'row:first');
    await alice.keyboard.press('e');
    assert.equal(await focused(alice), 'input:Edit message');
    await alice.keyboard.type(' and more');
    await alice.keyboard.press('Escape');
    assert.equal(await focused(alice), 'row:first');
    await expectMessages(alice, ['first', 'second, edited']);

    // Delete asks first; Enter confirms.
    await alice.keyboard.press('Delete');
    const confirm = alice.getByRole('dialog', { name: 'Delete this message?' });
    await confirm.waitFor();
    await alice.keyboard.press('Enter');
    await expectMessages(bob, ['Message deleted', 'second, edited']);
    await alice.keyboard.press('ArrowDown');
    assert.equal(await focused(alice), 'row:second, edited');

    // Someone else's message: R works, E and Delete do nothing.
    await sendEchoed(bob, 'from bob');
    await row(alice, 'from bob').focus();
    await alice.keyboard.press('e');
    await alice.keyboard.press('Delete');
    assert.equal(await alice.getByRole('textbox', { name: 'Edit message' }).count(), 0);
    assert.equal(await confirm.isVisible(), false);
    assert.deepEqual(alice.problems, []);
    await alice.context().close();
    await bob.context().close();
  });

  it('opens the actions with a long press on a touch screen', async () => {
    const alice = await openChat(await newPage(browser, PHONE), `${server.url}#touch`, 'alice');
    await sendEchoed(alice, 'hold me');
    const message = row(alice, 'hold me');
    const react = message.getByRole('button', { name: 'Add a reaction (R)' });
    assert.equal(await react.isVisible(), false, 'no bar without a press');
    const box = await message.locator('.msg-bubble').boundingBox();
    await message.locator('.msg-bubble').dispatchEvent('pointerdown', {
      pointerType: 'touch',
      isPrimary: true,
      clientX: box.x + 10,
      clientY: box.y + 10,
    });
    await message.and(alice.locator('.actions-open')).waitFor();
    await message.locator('.msg-bubble').dispatchEvent('pointerup', { pointerType: 'touch' });
    await react.click();
    await alice.getByRole('dialog', { name: 'Add a reaction' }).getByRole('button', { name: '😂' }).click();
    await expectChips(alice, 'hold me', ['😂 1 mine']);
    assert.deepEqual(alice.problems, []);
    await alice.context().close();
  });

  it('says in words why a change was refused (deleted meanwhile, too many emoji)', async () => {
    const { alice, bob } = await pair('refusals');
    await sendEchoed(alice, 'going away');
    await sendEchoed(alice, 'popular');
    await expectMessages(bob, ['going away', 'popular']);

    // Bob picks a reaction for a message Alice deletes while the picker is open: not_found.
    await act(bob, 'going away', 'Add a reaction (R)');
    const picker = bob.getByRole('dialog', { name: 'Add a reaction' });
    await picker.waitFor();
    await act(alice, 'going away', 'Delete message (Delete)');
    await alice.getByRole('dialog', { name: 'Delete this message?' }).getByRole('button', { name: 'Delete' }).click();
    await bob.locator('#messages .msg-deleted').waitFor();
    await picker.getByRole('button', { name: '👀' }).click();
    await expectNotice(bob, 'That message cannot get reactions any more: it was deleted.');

    // A message holds at most 20 different emoji: the 21st is refused (bad_request).
    const carol = await connectClient(server.addr, 'carol');
    const joined = await carol.join('refusals');
    const target = joined.history.find((m) => m.text === 'popular').seq;
    const emoji = ['😀', '😁', '😂', '🤣', '😃', '😄', '😅', '😆', '😉', '😊', '😋', '😎', '😍', '😘', '🥰', '😗', '😙', '🥲', '😚', '🙂'];
    for (const [i, e] of emoji.entries()) carol.send({ type: 'react', room: 'refusals', target, emoji: e, active: true, id: `carol-${i}` });
    await carol.waitFor((f) => f.type === 'message' && f.client_id === 'carol-19');
    await bob.waitForFunction(() => [...document.querySelectorAll('#messages .msg[data-seq]')].find((r) => r.textContent.includes('popular'))?.querySelectorAll('.reaction').length === 20);
    await act(bob, 'popular', 'Add a reaction (R)');
    await picker.getByRole('textbox', { name: 'Any other emoji' }).fill('🦀');
    await picker.getByRole('button', { name: 'Add' }).click();
    await expectNotice(bob, 'That reaction was not accepted (a message holds at most 20 different emoji).');
    assert.equal(await row(bob, 'popular').locator('.reaction[data-emoji="🦀"]').count(), 0);
    carol.close();
    assert.deepEqual(bob.problems, []);
    await alice.context().close();
    await bob.context().close();
  });

  it('keeps changes made offline and sends them once the connection is back', async () => {
    const proxy = await startProxy(server.port);
    try {
      const alice = await openChat(await newPage(browser), `${proxy.url}#away`, 'alice');
      const bob = await connectClient(server.addr, 'bob');
      await bob.join('away');
      await bob.say('away', 'react later');
      await expectMessages(alice, ['react later']);

      proxy.cutWebSockets();
      await alice.locator('#status[data-state="reconnecting"]').waitFor();
      await act(alice, 'react later', 'Add a reaction (R)');
      await alice.getByRole('dialog', { name: 'Add a reaction' }).getByRole('button', { name: '👍' }).click();
      // Shown at once, sent when the connection is back.
      await expectChips(alice, 'react later', ['👍 1 mine']);

      proxy.restore();
      await waitOnline(alice, RECONNECT_WAIT);
      const reaction = await bob.waitFor((f) => f.type === 'message' && f.kind === 'react' && f.emoji === '👍');
      assert.equal(reaction.active, true);

      // A change kept across a reload while offline goes too, once.
      proxy.cutWebSockets();
      await alice.locator('#status[data-state="reconnecting"]').waitFor();
      await act(alice, 'react later', 'Add a reaction (R)');
      await alice.getByRole('dialog', { name: 'Add a reaction' }).getByRole('button', { name: '🎉' }).click();
      await alice.reload();
      proxy.restore();
      await waitOnline(alice, RECONNECT_WAIT);
      await bob.waitFor((f) => f.type === 'message' && f.kind === 'react' && f.emoji === '🎉');
      await expectChips(alice, 'react later', ['👍 1', '🎉 1 mine']);
      await bob.say('away', 'marker');
      await expectMessages(alice, ['react later', 'marker']);
      const party = bob.frames.filter((f) => f.type === 'message' && f.kind === 'react' && f.emoji === '🎉');
      assert.equal(party.length, 1, 'stored once');
      bob.close();
      assert.deepEqual(alice.problems, []);
      await alice.context().close();
    } finally {
      await proxy.close();
    }
  });

  it('sends a change lost on the way again with the same id; one whose echo was lost is settled by the resume', async () => {
    const alice = await newPage(browser);
    const conns = [];
    const lose = { toServer: false, toPage: false };
    // The page's socket passes through the test, which loses one frame on the chosen side.
    await alice.routeWebSocket(/\/ws\?/, (ws) => {
      const upstream = ws.connectToServer();
      const conn = { ws, upstream, sent: [], lost: null };
      conns.push(conn);
      ws.onMessage((message) => {
        const frame = JSON.parse(String(message));
        conn.sent.push(frame);
        if (lose.toServer && frame.type === 'react') {
          lose.toServer = false;
          conn.lost = frame;
          return;
        }
        upstream.send(message);
      });
      upstream.onMessage((message) => {
        const frame = JSON.parse(String(message));
        if (lose.toPage && frame.type === 'message' && frame.kind === 'react') {
          lose.toPage = false;
          conn.lost = frame;
          return;
        }
        ws.send(message);
      });
    });
    await openChat(alice, `${server.url}#resend`, 'alice');
    const bob = await connectClient(server.addr, 'bob');
    await bob.join('resend');
    await bob.say('resend', 'again?');
    await expectMessages(alice, ['again?']);

    /** Reacts with `emoji`, waits for the test to lose a frame of it, then cuts the socket. */
    const reactAndCut = async (emoji) => {
      const conn = conns.at(-1);
      await act(alice, 'again?', 'Add a reaction (R)');
      await alice.getByRole('dialog', { name: 'Add a reaction' }).getByRole('button', { name: emoji }).click();
      const deadline = Date.now() + 10000;
      while (!conn.lost) {
        if (Date.now() > deadline) throw new Error(`no frame of the ${emoji} reaction to lose`);
        await alice.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
      }
      await conn.ws.close({ code: 4008, reason: 'test close' });
      await conn.upstream.close();
      await alice.locator('#status[data-state="online"]').waitFor({ state: 'detached' });
      await waitOnline(alice, RECONNECT_WAIT);
      return conn.sent.find((f) => f.type === 'react' && f.emoji === emoji);
    };

    // Lost before the server saw it: the next connection sends the same frame, same id.
    lose.toServer = true;
    const first = await reactAndCut('👍');
    // Stored as this connection's user (without sign-in, each connection is a new one).
    await expectChips(alice, 'again?', ['👍 1 mine']);
    assert.deepEqual(conns.at(-1).sent.find((f) => f.type === 'react'), first, 'the same frame, the same id');

    // Stored, its echo lost: the resume brings it, and it is not sent again.
    lose.toPage = true;
    await reactAndCut('🎉');
    // Both by earlier connections' users now.
    await expectChips(alice, 'again?', ['👍 1', '🎉 1']);
    await bob.say('resend', 'marker');
    await expectMessages(alice, ['again?', 'marker']);
    assert.equal(conns.at(-1).sent.filter((f) => f.type === 'react' && f.emoji === '🎉').length, 0);
    const stored = bob.frames.filter((f) => f.type === 'message' && f.kind === 'react');
    assert.deepEqual(stored.map((f) => f.emoji), ['👍', '🎉'], 'each stored once');
    assert.equal(await alice.locator('.msg.changing').count(), 0, 'nothing left waiting');
    bob.close();
    assert.deepEqual(alice.problems, []);
    await alice.context().close();
  });

  it('shows an edit made offline as saving, and the refusal when the reconnect made a new user', async () => {
    // Without sign-in every connection is a new user; the server lets only the author edit.
    const proxy = await startProxy(server.port);
    try {
      const alice = await openChat(await newPage(browser), `${proxy.url}#forbid`, 'alice');
      await sendEchoed(alice, 'mine for now');
      proxy.cutWebSockets();
      await alice.locator('#status[data-state="reconnecting"]').waitFor();
      await act(alice, 'mine for now', 'Edit message (E)');
      const editor = alice.getByRole('textbox', { name: 'Edit message' });
      await editor.fill('edited offline');
      await editor.press('Enter');
      await expectMessages(alice, ['edited offline']);
      await row(alice, 'edited offline').locator('.msg-edited', { hasText: '(saving…)' }).waitFor();

      proxy.restore();
      await waitOnline(alice, RECONNECT_WAIT);
      await expectNotice(alice, 'You can only edit your own messages');
      await expectMessages(alice, ['mine for now']);
      assert.equal(await alice.locator('#messages .msg-edited').count(), 0);
      assert.deepEqual(alice.problems, []);
      await alice.context().close();
    } finally {
      await proxy.close();
    }
  });

  it('has no serious accessibility violation with edits, reactions, a deletion and each dialog', async () => {
    const alice = await openChat(await newPage(browser, { bypassCSP: true }), `${server.url}#look`, 'alice');
    const bob = await connectClient(server.addr, 'bob');
    const joined = await bob.join('look');
    assert.equal(joined.room, 'look');
    const said = await bob.say('look', 'Shall we ship on Friday?');
    await sendEchoed(alice, 'Yes, if the tests are green');
    await sendEchoed(alice, 'Oops, wrong room');
    bob.send({ type: 'react', room: 'look', target: said.seq, emoji: '👍', active: true, id: 'look-1' });
    await expectChips(alice, 'Shall we ship', ['👍 1']);
    await row(alice, 'Shall we ship').getByRole('button', { name: /^👍 1/ }).click();
    await expectChips(alice, 'Shall we ship', ['👍 2 mine']);
    await act(alice, 'Yes, if the tests', 'Edit message (E)');
    await alice.getByRole('textbox', { name: 'Edit message' }).fill('Yes, if the tests are green and the docs are updated');
    await alice.keyboard.press('Enter');
    await act(alice, 'Oops, wrong room', 'Delete message (Delete)');
    await alice.getByRole('dialog', { name: 'Delete this message?' }).getByRole('button', { name: 'Delete' }).click();
    await expectMessages(alice, ['Shall we ship on Friday?', 'Yes, if the tests are green and the docs are updated', 'Message deleted']);
    await alice.locator('.msg.changing').waitFor({ state: 'detached' });

    for (const scheme of ['light', 'dark']) {
      await alice.emulateMedia({ colorScheme: scheme });
      await row(alice, 'Shall we ship').focus();
      await screenshot(alice, `changes-${scheme}`);
      await assertAccessible(alice, `changes, ${scheme}, a message focused`);
      await alice.keyboard.press('r');
      await alice.getByRole('dialog', { name: 'Add a reaction' }).waitFor();
      await assertAccessible(alice, `reaction picker, ${scheme}`);
      await alice.keyboard.press('Escape');
      await row(alice, 'Yes, if the tests').focus();
      await alice.keyboard.press('Delete');
      await alice.getByRole('dialog', { name: 'Delete this message?' }).waitFor();
      await assertAccessible(alice, `delete confirmation, ${scheme}`);
      await alice.keyboard.press('Escape');
      await alice.keyboard.press('e');
      await alice.getByRole('textbox', { name: 'Edit message' }).waitFor();
      await screenshot(alice, `changes-editing-${scheme}`);
      await assertAccessible(alice, `editing, ${scheme}`);
      await alice.keyboard.press('Escape');
    }
    bob.close();
    await alice.context().close();
  });

  it('ignores a change to a message not loaded, and shows that message’s state once it is', async () => {
    const carol = await connectClient(server.addr, 'carol');
    await carol.join('long');
    const first = await carol.say('long', 'very first');
    // More than a join brings (50), so the first message is not on the page at first.
    for (let i = 1; i <= 55; i += 1) await carol.say('long', `filler ${i}`);
    const alice = await openChat(await newPage(browser), `${server.url}#long`, 'alice');
    await row(alice, 'filler 55').waitFor();
    assert.equal(await row(alice, 'very first').count(), 0);

    carol.send({ type: 'edit', room: 'long', target: first.seq, text: 'very first, edited', id: 'long-edit' });
    carol.send({ type: 'react', room: 'long', target: first.seq, emoji: '👍', active: true, id: 'long-react' });
    await carol.waitFor((f) => f.client_id === 'long-react');
    await carol.say('long', 'after the changes');
    await row(alice, 'after the changes').waitFor();

    await alice.locator('#scroller').evaluate((s) => {
      s.scrollTop = 0;
    });
    await row(alice, 'very first, edited').waitFor();
    await row(alice, 'very first, edited').locator('.msg-edited', { hasText: '(edited)' }).waitFor();
    await expectChips(alice, 'very first, edited', ['👍 1']);
    carol.close();
    assert.deepEqual(alice.problems, []);
    await alice.context().close();
  });

  it('puts change frames on the wire with ids (edit, delete, react)', async () => {
    const alice = await newPage(browser);
    const sent = [];
    alice.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(JSON.parse(f.payload))));
    await openChat(alice, `${server.url}#wire`, 'alice');
    const echo = await sendEchoed(alice, 'wired').then(() => row(alice, 'wired').getAttribute('data-seq'));
    const seq = Number(echo);
    await act(alice, 'wired', 'Edit message (E)');
    await alice.getByRole('textbox', { name: 'Edit message' }).fill('rewired');
    await alice.keyboard.press('Enter');
    await expectMessages(alice, ['rewired']);
    await act(alice, 'rewired', 'Add a reaction (R)');
    await alice.getByRole('dialog', { name: 'Add a reaction' }).getByRole('button', { name: '👍' }).click();
    await expectChips(alice, 'rewired', ['👍 1 mine']);
    await act(alice, 'rewired', 'Delete message (Delete)');
    await alice.getByRole('dialog', { name: 'Delete this message?' }).getByRole('button', { name: 'Delete' }).click();
    await expectMessages(alice, ['Message deleted']);
    const changes = sent.filter((f) => ['edit', 'delete', 'react'].includes(f.type));
    const ids = changes.map((f) => f.id);
    assert.ok(ids.every((id) => typeof id === 'string' && id.length > 0 && id.length <= 64));
    assert.deepEqual(
      changes.map(({ id, ...rest }) => rest),
      [
        { type: 'edit', room: 'wire', target: seq, text: 'rewired' },
        { type: 'react', room: 'wire', target: seq, emoji: '👍', active: true },
        { type: 'delete', room: 'wire', target: seq },
      ],
    );
    await alice.context().close();
  });
});

