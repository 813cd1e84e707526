// Sharing files: the attach button, a drop on the conversation and a paste into the message
// box; the upload's progress and its cancel; images as thumbnails that open full size, other
// files as a card with a download link, for the other person live and after a reload;
// refusals (too large, type, too many) in words; no upload UI when the server has file sharing
// off; a file name with HTML shown as text; axe on every new piece.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertAccessible } from '../lib/axe.mjs';
import {
  expectMessages,
  launchBrowser,
  newPage,
  openChat,
  screenshot,
  send,
  waitOnline,
} from '../lib/browser.mjs';
import { png } from '../lib/png.mjs';
import { startServer } from '../lib/server.mjs';
import { connectClient } from '../lib/ws-client.mjs';

/** Chooses `files` ({ name, mimeType, buffer }) with the composer's attach button. */
async function attach(page, ...files) {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Attach files' }).click();
  await (await chooser).setFiles(files);
}

/** The composer's tray: one line per file, "name: status". */
function tray(page) {
  return page.locator('#attachments .attachment').evaluateAll((items) =>
    items.map((li) => `${li.querySelector('.attachment-name').textContent}: ${li.querySelector('.attachment-status')?.textContent ?? 'uploading'}`),
  );
}

/** Waits until the tray shows `expected` (see tray()). */
async function expectTray(page, expected) {
  try {
    await page.waitForFunction(
      (want) => {
        const shown = [...document.querySelectorAll('#attachments .attachment')].map(
          (li) => `${li.querySelector('.attachment-name').textContent}: ${li.querySelector('.attachment-status')?.textContent ?? 'uploading'}`,
        );
        return JSON.stringify(shown) === JSON.stringify(want);
      },
      expected,
    );
  } catch (e) {
    throw new Error(`expected the tray to show ${JSON.stringify(expected)}, it shows ${JSON.stringify(await tray(page))}\n(${e.message.split('\n')[0]})`);
  }
}

/** Makes a DataTransfer in the page holding `files` ({ name, type, text }), for drops. */
function transfer(page, files) {
  return page.evaluateHandle((list) => {
    const data = new DataTransfer();
    for (const f of list) data.items.add(new File([f.text], f.name, { type: f.type }));
    return data;
  }, files);
}

/** Pastes `files` ({ name, type, text }) into the message box, as the clipboard would. */
function paste(page, files) {
  return page.evaluate((list) => {
    const data = new DataTransfer();
    for (const f of list) data.items.add(new File([f.text], f.name, { type: f.type }));
    const input = document.getElementById('composer-input');
    input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  }, files);
}

const text = (name, body, mimeType = 'text/plain') => ({ name, mimeType, buffer: Buffer.from(body) });

describe('sharing files', () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shares an image as a thumbnail that opens full size, live and after a reload', async () => {
    const alice = await openChat(await newPage(browser), `${server.url}#pictures`, 'alice');
    const bob = await openChat(await newPage(browser), `${server.url}#pictures`, 'bob');
    const carol = await connectClient(server.addr, 'carol');
    await carol.join('pictures');

    await attach(alice, { name: 'cat.png', mimeType: 'image/png', buffer: png(640, 480) });
    await expectTray(alice, ['cat.png: Ready to send']);
    await send(alice, 'look at this');
    await alice.locator('#attachments').waitFor({ state: 'hidden' });
    const message = await carol.waitFor((f) => f.type === 'message' && f.text === 'look at this');
    const [file] = message.files;
    assert.equal(file.name, 'cat.png');
    assert.equal(file.type, 'image/png');
    assert.equal(file.width, 640);
    assert.ok(file.thumb, 'an image wider than 320 px has a thumbnail');

    for (const page of [alice, bob]) {
      await expectMessages(page, ['look at this']);
      const thumbnail = page.locator('#messages .msg:not(.pending) .file-image img');
      await thumbnail.waitFor();
      assert.equal(await thumbnail.getAttribute('alt'), 'cat.png');
      assert.equal(new URL(await thumbnail.getAttribute('src'), server.url).pathname, new URL(file.thumb, server.url).pathname);
      assert.deepEqual([await thumbnail.getAttribute('width'), await thumbnail.getAttribute('height')], ['320', '240']);
      await page.waitForFunction(() => document.querySelector('#messages .file-image img')?.naturalWidth > 0);
      assert.ok(await thumbnail.evaluate((img) => img.naturalWidth <= 320), 'the thumbnail, not the full image');
    }

    // The thumbnail opens the image at full size; Esc closes it and focus goes back.
    await bob.getByRole('link', { name: /^cat\.png .*open full size/ }).click();
    const viewer = bob.getByRole('dialog', { name: 'cat.png' });
    await viewer.waitFor();
    await bob.waitForFunction(() => document.querySelector('#viewer img')?.naturalWidth === 640);
    await screenshot(bob, 'files-viewer');
    await bob.keyboard.press('Escape');
    await viewer.waitFor({ state: 'hidden' });
    assert.ok(await bob.evaluate(() => document.activeElement.matches('.file-image')));

    await bob.reload();
    await waitOnline(bob);
    await bob.locator('#messages .file-image img[alt="cat.png"]').waitFor();
    carol.close();
    assert.deepEqual(alice.problems, []);
    assert.deepEqual(bob.problems, []);
    await alice.context().close();
    await bob.context().close();
  });

  it('shares other files as a card with name, size and a download link; a message may be files alone', async () => {
    const alice = await openChat(await newPage(browser), `${server.url}#papers`, 'alice');
    const bob = await openChat(await newPage(browser), `${server.url}#papers`, 'bob');
    const body = 'line of notes\n'.repeat(110);
    await attach(alice, text('notes.txt', body));
    await expectTray(alice, ['notes.txt: Ready to send']);
    // No text: the files are the message.
    await alice.getByRole('button', { name: 'Send message' }).click();
    for (const page of [alice, bob]) {
      const card = page.locator('#messages .msg:not(.pending) .file-card');
      await card.waitFor();
      assert.equal(await card.locator('.file-name').textContent(), 'notes.txt');
      assert.equal(await card.locator('.file-meta').textContent(), '1.5 KB · text/plain');
      const link = card.getByRole('link', { name: 'Download notes.txt' });
      const href = await link.getAttribute('href');
      const response = await fetch(new URL(href, server.url));
      assert.equal(response.status, 200);
      assert.equal(await response.text(), body);
    }
    await bob.reload();
    await waitOnline(bob);
    await bob.locator('#messages .file-card .file-name', { hasText: 'notes.txt' }).waitFor();
    assert.deepEqual(alice.problems, []);
    assert.deepEqual(bob.problems, []);
    await alice.context().close();
    await bob.context().close();
  });

  it('takes files dropped on the conversation and pasted into the message box', async () => {
    const alice = await openChat(await newPage(browser), `${server.url}#drops`, 'alice');
    const dropped = await transfer(alice, [{ name: 'dropped.txt', type: 'text/plain', text: 'from a drop' }]);
    await alice.locator('#scroller').dispatchEvent('dragenter', { dataTransfer: dropped });
    assert.ok(await alice.locator('#chat').evaluate((chat) => chat.classList.contains('dropping')), 'the drop zone shows');
    await alice.locator('#scroller').dispatchEvent('drop', { dataTransfer: dropped });
    await expectTray(alice, ['dropped.txt: Ready to send']);
    assert.equal(await alice.locator('#chat.dropping').count(), 0);

    await paste(alice, [{ name: 'pasted.txt', type: 'text/plain', text: 'from the clipboard' }]);
    await expectTray(alice, ['dropped.txt: Ready to send', 'pasted.txt: Ready to send']);

    // A file taken out of the tray does not go.
    await alice.getByRole('button', { name: 'Remove dropped.txt' }).click();
    await expectTray(alice, ['pasted.txt: Ready to send']);
    await send(alice, 'two ways in');
    await expectMessages(alice, ['two ways in']);
    await alice.locator('#messages .msg:not(.pending) .file-card .file-name', { hasText: 'pasted.txt' }).waitFor();
    assert.equal(await alice.locator('#messages .file-name', { hasText: 'dropped.txt' }).count(), 0);
    assert.deepEqual(alice.problems, []);
    await alice.context().close();
  });

  it('shows an upload’s progress, waits for it before sending, and cancels it', async () => {
    const alice = await openChat(await newPage(browser), `${server.url}#slow`, 'alice');
    const cdp = await alice.context().newCDPSession(alice);
    await cdp.send('Network.enable');
    // About 64 KB/s: a 1 MB upload takes long enough to watch and cancel.
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 64 * 1024 });
    await attach(alice, text('big.txt', 'x'.repeat(1024 * 1024)));
    const bar = alice.getByRole('progressbar', { name: 'Uploading big.txt' });
    await bar.waitFor();
    await alice.waitForFunction(() => {
      const value = document.querySelector('#attachments progress')?.value;
      return value > 0 && value < 1;
    });
    await screenshot(alice, 'files-uploading');

    // Sending now would leave the file behind: the page says so and keeps the text.
    const input = alice.getByRole('textbox', { name: 'Message to #slow' });
    await input.fill('with the big file');
    await input.press('Enter');
    await alice.locator('#notices .notice-text', { hasText: 'A file is still uploading' }).waitFor();
    assert.equal(await input.inputValue(), 'with the big file');

    await alice.getByRole('button', { name: 'Cancel upload of big.txt' }).click();
    await expectTray(alice, []);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await input.press('Enter');
    await expectMessages(alice, ['with the big file']);
    assert.equal(await alice.locator('#messages .file-card, #messages .file-image').count(), 0);
    assert.deepEqual(alice.problems, []);
    await alice.context().close();
  });

  it('shows a file name with HTML in it as text', async () => {
    const alice = await openChat(await newPage(browser), `${server.url}#names`, 'alice');
    const carol = await connectClient(server.addr, 'carol');
    await carol.join('names');
    const name = '<img src=x onerror="window.pwned=1">.txt';
    await attach(alice, text(name, 'hostile name'));
    await alice.locator('#attachments .attachment-status', { hasText: 'Ready to send' }).waitFor();
    assert.equal(await alice.locator('#attachments img').count(), 0);
    await send(alice, 'a strange name');
    const message = await carol.waitFor((f) => f.type === 'message' && f.text === 'a strange name');
    const card = alice.locator('#messages .msg:not(.pending) .file-card');
    await card.waitFor();
    assert.equal(await card.locator('.file-name').textContent(), message.files[0].name);
    assert.equal(await alice.locator('#messages img').count(), 0, 'no element made from the name');
    assert.equal(await alice.evaluate(() => window.pwned), undefined);
    carol.close();
    assert.deepEqual(alice.problems, []);
    await alice.context().close();
  });

  it('has no serious accessibility violation with files, the tray and the viewer', async () => {
    const alice = await openChat(await newPage(browser, { bypassCSP: true }), `${server.url}#gallery`, 'alice');
    await attach(alice, { name: 'sunset.png', mimeType: 'image/png', buffer: png(480, 320) }, text('agenda.txt', 'Agenda\n'));
    await expectTray(alice, ['sunset.png: Ready to send', 'agenda.txt: Ready to send']);
    await send(alice, 'Photos and the agenda');
    await alice.locator('#messages .msg:not(.pending) .file-card').waitFor();
    await alice.locator('#messages .msg:not(.pending) .file-image img').waitFor();
    await attach(alice, text('setup.exe', 'MZ\x90\x00not really', 'application/x-msdownload'));
    await alice.locator('#attachments .attachment.failed').waitFor();
    for (const scheme of ['light', 'dark']) {
      await alice.emulateMedia({ colorScheme: scheme });
      await screenshot(alice, `files-${scheme}`);
      await assertAccessible(alice, `files and tray, ${scheme}`);
      await alice.getByRole('link', { name: /^sunset\.png/ }).click();
      await alice.getByRole('dialog', { name: 'sunset.png' }).waitFor();
      await assertAccessible(alice, `image viewer, ${scheme}`);
      await alice.keyboard.press('Escape');
    }
    await alice.context().close();
  });
});

describe('files the server refuses', () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer({ env: { CHAT__FILES__MAX_BYTES: '100000', CHAT__FILES__UPLOADS_PER_MIN: '4' } });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('says why in words: too large, a type not accepted, an image that is not one, too many', async () => {
    const alice = await openChat(await newPage(browser), `${server.url}#refused`, 'alice');
    await attach(alice, text('huge.txt', 'x'.repeat(200000)));
    await alice.locator('#attachments .attachment-status', { hasText: 'huge.txt is too large to share (at most 98 KB).' }).waitFor();
    await attach(alice, text('setup.exe', 'MZ\x90\x00not really', 'application/x-msdownload'));
    await alice.locator('#attachments .attachment-status', { hasText: 'setup.exe cannot be shared: the server does not accept files of this type' }).waitFor();
    await attach(alice, text('photo.png', '<html>not a picture</html>', 'image/png'));
    await alice.locator('#attachments .attachment-status', { hasText: 'photo.png cannot be shared' }).waitFor();
    await screenshot(alice, 'files-refused');

    // Uploads past files.uploads_per_min are refused until the minute is over.
    for (let i = 0; i < 6; i += 1) {
      await attach(alice, text(`note-${i}.txt`, `note ${i}`));
      await alice.locator('#attachments .attachment', { hasText: `note-${i}.txt` }).locator('.attachment-status').waitFor();
    }
    const statuses = await tray(alice);
    assert.ok(
      statuses.some((s) => s.includes('was not sent: too many uploads in the last minute')),
      `one of the uploads is refused as too many: ${JSON.stringify(statuses)}`,
    );
    assert.ok(statuses.filter((s) => s.endsWith('Ready to send')).length <= 4);
    // The browser logs each refused request; nothing else went wrong.
    const refusals = /status of (415|429) /;
    assert.deepEqual(alice.problems.filter((p) => !refusals.test(p)), []);
    await alice.context().close();
  });
});

describe('a server without file sharing', () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer({ env: { CHAT__FILES__ENABLED: 'false' } });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('offers no upload: no attach button, drops and pastes ignored', async () => {
    const alice = await openChat(await newPage(browser), server.url, 'alice');
    assert.equal(await alice.getByRole('button', { name: 'Attach files' }).isVisible(), false);
    const dropped = await transfer(alice, [{ name: 'ignored.txt', type: 'text/plain', text: 'no' }]);
    await alice.locator('#scroller').dispatchEvent('dragenter', { dataTransfer: dropped });
    await alice.locator('#scroller').dispatchEvent('drop', { dataTransfer: dropped });
    assert.equal(await alice.locator('#chat.dropping').count(), 0);
    await paste(alice, [{ name: 'ignored.txt', type: 'text/plain', text: 'no' }]);
    await send(alice, 'still works');
    await expectMessages(alice, ['still works']);
    assert.equal(await alice.locator('#attachments .attachment').count(), 0);
    assert.deepEqual(alice.problems, []);
    await alice.context().close();
  });
});
