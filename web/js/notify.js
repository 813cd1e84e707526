// Desktop notifications while the tab is hidden, by each room's bell: `all` messages,
// `mentions` of the user (the default), or `none`. The browser's permission is asked only
// when the user turns a bell on, never on load.

import * as saved from './storage.js';

export const BELLS = ['all', 'mentions', 'none'];
const DEFAULT_BELL = 'mentions';
/** Longest notification body; the rest is in the room. */
const BODY_CHARS = 200;

export class Notifier {
  /** @param {(room: string) => void} openRoom called when the user clicks a notification */
  constructor(openRoom) {
    this.openRoom = openRoom;
    this.bells = saved.loadBells();
  }

  get supported() {
    return typeof Notification === 'function';
  }

  /** 'granted', 'denied', 'default' or 'unsupported'. */
  get permission() {
    return this.supported ? Notification.permission : 'unsupported';
  }

  bell(room) {
    return BELLS.includes(this.bells[room]) ? this.bells[room] : DEFAULT_BELL;
  }

  /** Sets `room`'s bell; turning it on asks for permission if the browser has not been asked. */
  async setBell(room, bell) {
    if (!BELLS.includes(bell)) return this.permission;
    this.bells = { ...this.bells, [room]: bell };
    saved.saveBells(this.bells);
    if (bell !== 'none' && this.permission === 'default') {
      try {
        await Notification.requestPermission();
      } catch {
        // An old browser without the promise form, or a refusal: no notifications then.
      }
    }
    return this.permission;
  }

  forget(room) {
    if (!(room in this.bells)) return;
    const { [room]: _, ...rest } = this.bells;
    this.bells = rest;
    saved.saveBells(this.bells);
  }

  /** A message arrived (not the user's own): notifies when the tab is hidden and the bell says so. */
  incoming(message, mentionsMe) {
    if (!document.hidden || this.permission !== 'granted') return;
    const bell = this.bell(message.room);
    if (bell === 'none' || (bell === 'mentions' && !mentionsMe)) return;
    const name = message.from?.name ?? 'someone';
    // A message of files alone is told by their names.
    const files = (message.files ?? []).map((f) => f.name).join(', ');
    const text = String(message.text || (files ? `shared ${files}` : ''));
    try {
      const note = new Notification(`${mentionsMe ? `${name} mentioned you` : name} in #${message.room}`, {
        body: text.length > BODY_CHARS ? `${text.slice(0, BODY_CHARS)}…` : text,
        tag: `chat-${message.room}`,
        icon: 'favicon.svg',
      });
      note.addEventListener('click', () => {
        window.focus();
        this.openRoom(message.room);
        note.close();
      });
    } catch {
      // Some browsers allow notifications only from a service worker: the badge still counts.
    }
  }
}
