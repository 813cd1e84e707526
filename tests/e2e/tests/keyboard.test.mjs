// Keyboard shortcuts: Ctrl/Cmd+K opens the room switcher (filter, arrows, Enter; a new name
// joins), Alt+↑/↓ moves between rooms, Esc closes what is open, `?` lists the shortcuts.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newPage, openChat } from '../lib/browser.mjs';
import { startServer } from '../lib/server.mjs';

describe('keyboard shortcuts', () => {
  let server;
  let browser;
  let page;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    page = await newPage(browser);
    await openChat(page, server.url, 'kim');
    for (const room of ['random', 'design']) {
      const join = page.getByRole('textbox', { name: 'Join a room' });
      await join.fill(room);
      await join.press('Enter');
      await page.locator('#room-name', { hasText: room }).waitFor();
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  // The page draws on the next animation frame: wait for the header to name the room
  // (a read right after a key press can see the frame before).
  const roomInView = async (name, message) => {
    const header = page.locator('#room-name');
    await header.filter({ hasText: new RegExp(`^${name}$`) }).waitFor({ timeout: 5000 })
      .catch(() => {});
    assert.equal(await header.textContent(), name, message);
  };

  it('opens a room from the switcher with Ctrl+K, or joins a new one', async () => {
    await page.keyboard.press('Control+k');
    const dialog = page.getByRole('dialog', { name: 'Go to a room' });
    await dialog.waitFor();
    const field = dialog.getByRole('combobox', { name: 'Room name' });
    assert.ok(await field.evaluate((el) => el === document.activeElement), 'the filter has focus');
    assert.deepEqual(await dialog.getByRole('option').allTextContents(), ['#general', '#random', '#design']);
    await page.keyboard.type('ran');
    // Rooms that match come first; the exact name is offered as a join after them.
    assert.deepEqual(await dialog.getByRole('option').allTextContents(), ['#random', 'Join #ran']);
    await page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'hidden' });
    await roomInView('random');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'composer-input');

    // Arrows choose; Meta+K works as Cmd+K does on a Mac.
    await page.keyboard.press('Meta+k');
    await dialog.waitFor();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    assert.equal(await dialog.locator('[aria-selected="true"]').textContent(), '#design');
    assert.equal(await field.getAttribute('aria-activedescendant'), await dialog.locator('[aria-selected="true"]').getAttribute('id'));
    await page.keyboard.press('Enter');
    await page.locator('#room-name', { hasText: 'design' }).waitFor();

    // A name no room has is offered as a join.
    await page.keyboard.press('Control+k');
    await page.keyboard.type('#brand-new');
    assert.deepEqual(await dialog.getByRole('option').allTextContents(), ['Join #brand-new']);
    await page.keyboard.press('Enter');
    await page.locator('#room-name', { hasText: 'brand-new' }).waitFor();
    await page.locator('#room-list li[data-room="brand-new"]').waitFor();

    // Esc closes it without going anywhere.
    await page.keyboard.press('Control+k');
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await roomInView('brand-new');
    assert.deepEqual(page.problems, []);
  });

  it('moves between rooms with Alt+Up and Alt+Down, wrapping around', async () => {
    await page.getByRole('button', { name: 'general', exact: true }).click();
    await page.keyboard.press('Alt+ArrowDown');
    await roomInView('random');
    await page.keyboard.press('Alt+ArrowDown');
    await roomInView('design');
    await page.keyboard.press('Alt+ArrowUp');
    await page.keyboard.press('Alt+ArrowUp');
    await roomInView('general');
    await page.keyboard.press('Alt+ArrowUp');
    await roomInView('brand-new', 'up from the first is the last');
    assert.deepEqual(page.problems, []);
  });

  it('lists the shortcuts on ?, but not while typing, and Esc closes menus', async () => {
    const input = page.getByRole('textbox', { name: /^Message to #/ });
    await input.focus();
    await page.keyboard.type('why?');
    assert.equal(await input.inputValue(), 'why?', 'in the message box ? is a character');
    const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    assert.equal(await help.isVisible(), false);
    await input.fill('');
    await page.locator('#scroller').focus();
    await page.keyboard.press('?');
    await help.waitFor();
    assert.match(await help.textContent(), /Go to a room.*Previous \/ next room.*Close what is open/s);
    await page.keyboard.press('Escape');
    await help.waitFor({ state: 'hidden' });
    // The hint under the composer opens it too.
    await page.getByRole('button', { name: '? for shortcuts' }).click();
    await help.waitFor();
    await help.getByRole('button', { name: 'Close' }).click();
    await help.waitFor({ state: 'hidden' });

    // Esc closes the bell menu and the mention list.
    await page.getByRole('button', { name: /^Notifications/ }).click();
    await page.locator('#bell-menu').waitFor();
    await page.keyboard.press('Escape');
    await page.locator('#bell-menu').waitFor({ state: 'hidden' });
    assert.deepEqual(page.problems, []);
  });
});
