// "I am typing" as the protocol's `typing` frames, debounced: one `active: true` when typing
// starts (repeated every few seconds while it goes on, so others' indicators stay alive), one
// `active: false` after a few seconds of silence, on send, or when the room changes.

/** Silence after which typing counts as stopped. */
const IDLE_MS = 3000;
/** How often a continuing `active: true` is repeated; below store.js's TYPING_TTL_MS. */
const REFRESH_MS = 4000;

export class TypingSender {
  /** @param {(frame: object) => boolean} send returns whether the frame went out */
  constructor(send) {
    this.send = send;
    this.room = null;
    this.sentAt = 0;
    this.idleTimer = null;
  }

  /** The user typed in `room`'s composer. */
  input(room, now = Date.now()) {
    if (this.room && this.room !== room) this.stop();
    if (this.room !== room || now - this.sentAt >= REFRESH_MS) {
      if (this.send({ type: 'typing', room, active: true })) {
        this.room = room;
        this.sentAt = now;
      }
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stop(), IDLE_MS);
  }

  /** Typing ended (silence, send, room change, composer emptied). */
  stop() {
    clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.room) this.send({ type: 'typing', room: this.room, active: false });
    this.room = null;
    this.sentAt = 0;
  }

  /** The connection dropped: the server forgot our typing state along with us. */
  reset() {
    clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.room = null;
    this.sentAt = 0;
  }
}
