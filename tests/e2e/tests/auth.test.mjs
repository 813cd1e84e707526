// Sign-in with a link (auth.mode = "jwt"): the token taken from the URL fragment, the name
// from the token, a room the token does not grant, and the screens for no token, a bad token
// and an expired one. Tokens come from the server's own `chat-server token` subcommand.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newPage, send, waitOnline, expectMessages } from '../lib/browser.mjs';
import { repoRoot, startServer } from '../lib/server.mjs';

const SECRET = 'e2e secret for signing tokens';
const binary = process.env.CHAT_SERVER_BIN ?? path.join(repoRoot, 'target/debug/chat-server');

/** A token signed by the server binary with `args` (--sub, --name, --rooms, --ttl). */
function mint(...args) {
  return execFileSync(binary, ['token', ...args], {
    cwd: os.tmpdir(),
    env: { ...process.env, CHAT__AUTH__JWT_SECRET: SECRET },
    encoding: 'utf8',
  }).trim();
}

describe('sign-in with a link', () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer({
      env: { CHAT__AUTH__MODE: 'jwt', CHAT__AUTH__JWT_SECRET: SECRET },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const signInScreen = (page) => page.getByRole('dialog', { name: 'Sign-in needed' });

  it('signs in with the token of the link, shows its name, and forgets the fragment', async () => {
    const token = mint('--sub', 'alice', '--name', 'Alice Liddell', '--ttl', '1h');
    const page = await newPage(browser);
    await page.goto(`${server.url}#token=${token}`);
    await waitOnline(page);
    assert.equal(await page.getByRole('dialog').count(), 0, 'no name dialog');
    assert.equal(await page.locator('#me-name').textContent(), 'Alice Liddell');
    assert.equal(await page.evaluate(() => location.hash), '', 'the token left the address bar');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('chat.token')), token);
    await send(page, 'signed in');
    await expectMessages(page, ['signed in']);

    // A reload signs in again from the tab's storage.
    await page.reload();
    await waitOnline(page);
    assert.equal(await page.locator('#me-name').textContent(), 'Alice Liddell');
    await expectMessages(page, ['signed in']);
    assert.deepEqual(page.problems, []);
  });

  it('refuses a room the token does not grant', async () => {
    const token = mint('--sub', 'bob', '--name', 'Bob', '--rooms', 'general,team-*', '--ttl', '1h');
    const page = await newPage(browser);
    await page.goto(`${server.url}#token=${token}`);
    await waitOnline(page);
    const join = page.getByRole('textbox', { name: 'Join a room' });
    await join.fill('team-red');
    await join.press('Enter');
    await page.locator('#room-name', { hasText: 'team-red' }).waitFor();
    await join.fill('secret');
    await join.press('Enter');
    await page.locator('.notice-text', { hasText: 'Your sign-in does not give access to that room.' }).waitFor();
    await page.locator('#room-list .room', { hasText: 'secret' }).waitFor({ state: 'detached' });
    assert.equal(await page.locator('#room-list .room').count(), 2);
  });

  it('without a token, or with a bad one, says a sign-in link is needed', async () => {
    const page = await newPage(browser);
    await page.goto(server.url);
    await signInScreen(page).waitFor();
    assert.match(await signInScreen(page).textContent(), /needs a sign-in link/);
    assert.equal(await page.getByRole('dialog', { name: 'Welcome to Chat' }).isVisible(), false);

    const bad = await newPage(browser);
    await bad.goto(`${server.url}#token=not-a-token`);
    await signInScreen(bad).waitFor();
    assert.match(await signInScreen(bad).textContent(), /not valid/);
    assert.equal(await bad.evaluate(() => sessionStorage.getItem('chat.token')), null);
  });

  it('says so when the token expires while connected', async () => {
    const token = mint('--sub', 'carol', '--name', 'Carol', '--ttl', '3s');
    const page = await newPage(browser);
    await page.goto(`${server.url}#token=${token}`);
    // Online for a moment on most machines (the server then closes with 4001); on a slow one
    // the token may expire before the socket opens, and the upgrade's 401 says the same.
    await signInScreen(page).waitFor();
    assert.match(await signInScreen(page).textContent(), /expired/);
    assert.notEqual(await page.locator('#status').getAttribute('data-state'), 'online');
  });
});
