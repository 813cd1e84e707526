// The room's bell in the header: a small menu of three choices (every message, mentions,
// nothing) for desktop notifications, and a line saying when the browser blocks them.

import { BELLS } from './notify.js';

const LABEL = { all: 'every message', mentions: 'mentions', none: 'nothing' };

export class BellMenu {
  /**
   * @param {object} els bellButton, bellMenu, bellNote, bellAllow
   * @param {import('./notify.js').Notifier} notifier
   * @param {() => string | null} room the room in view
   */
  constructor(els, notifier, room) {
    this.els = els;
    this.notifier = notifier;
    this.room = room;
    els.bellButton.addEventListener('click', () => this.toggle());
    els.bellMenu.addEventListener('change', async (event) => {
      const name = this.room();
      if (!name || !BELLS.includes(event.target.value)) return;
      await notifier.setBell(name, event.target.value);
      this.render();
    });
    els.bellAllow.addEventListener('click', async () => {
      const name = this.room();
      if (name) await notifier.setBell(name, notifier.bell(name));
      this.render();
    });
    document.addEventListener('click', (event) => {
      if (this.open && !event.target.closest('.bell')) this.close();
    });
  }

  get open() {
    return !this.els.bellMenu.hidden;
  }

  toggle() {
    if (this.open) {
      this.close();
      return;
    }
    this.els.bellMenu.hidden = false;
    this.els.bellButton.setAttribute('aria-expanded', 'true');
    this.render();
    this.els.bellMenu.querySelector('input:checked')?.focus();
  }

  /** Closes the menu; returns whether it was open. */
  close({ focus = true } = {}) {
    if (!this.open) return false;
    this.els.bellMenu.hidden = true;
    this.els.bellButton.setAttribute('aria-expanded', 'false');
    if (focus) this.els.bellButton.focus();
    return true;
  }

  /** The button's state and the menu's choice for the room in view. */
  render() {
    const name = this.room();
    const bell = name ? this.notifier.bell(name) : 'mentions';
    const { bellButton, bellMenu, bellNote, bellAllow } = this.els;
    bellButton.dataset.bell = bell;
    bellButton.disabled = !name;
    bellButton.setAttribute('aria-label', `Notifications: ${LABEL[bell]}`);
    bellButton.title = `Notifications: ${LABEL[bell]}`;
    for (const input of bellMenu.querySelectorAll('input')) input.checked = input.value === bell;
    const permission = this.notifier.permission;
    let note = '';
    if (permission === 'denied') note = 'This browser blocks notifications from this site; allow them in its site settings.';
    else if (permission === 'unsupported') note = 'This browser cannot show notifications.';
    else if (permission === 'default' && bell !== 'none') note = 'The browser has not been allowed to show them yet.';
    bellNote.textContent = note;
    bellNote.hidden = !note;
    bellAllow.hidden = !(permission === 'default' && bell !== 'none');
  }
}
