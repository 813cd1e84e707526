// The WebSocket: opening it, noticing when it dies (any `close`: a network cut, the server's
// 1001 at shutdown, 4008 for a slow consumer, an idle timeout) and opening it again with
// exponential backoff and jitter. It knows nothing of rooms: frames go out as objects and come
// back through `onFrame`; state changes through `onState`.

import { backoffDelay } from './sync.js';

/** How long an opening socket may take before it is abandoned and retried. */
const OPEN_TIMEOUT_MS = 10000;
/**
 * A connection that lasted this long was healthy: the next drop starts the backoff over.
 * A shorter one (a server that accepts and then closes at once) keeps backing off.
 */
const STABLE_MS = 10000;

/** @typedef {'connecting' | 'online' | 'reconnecting'} ConnectionState */

export class Connection {
  /**
   * @param {object} options
   * @param {() => string} options.url the WebSocket URL, asked again before every attempt
   * @param {(frame: object) => void} options.onFrame each parsed server frame
   * @param {(state: ConnectionState, detail: object) => void} options.onState
   * @param {() => void} options.onOpen a socket opened (before its welcome)
   * @param {(event: CloseEvent) => void} options.onClose a socket ended
   */
  constructor({ url, onFrame, onState, onOpen = () => {}, onClose = () => {} }) {
    this.url = url;
    this.onFrame = onFrame;
    this.onState = onState;
    this.onOpen = onOpen;
    this.onClose = onClose;
    this.socket = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.openTimer = null;
    this.retryAt = null;
    this.everOnline = false;
    this.onlineSince = null;
    this.state = 'connecting';
    this.stopped = false;
  }

  start() {
    this.#open();
  }

  /** True when a frame can be sent now. */
  get ready() {
    return this.socket?.readyState === WebSocket.OPEN && this.state === 'online';
  }

  /** Sends a frame if the socket is open; returns whether it did. */
  send(frame) {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** The server's welcome arrived: the connection is usable. */
  markOnline() {
    this.onlineSince = Date.now();
    this.everOnline = true;
    this.#setState('online');
  }

  /** Skips the rest of the backoff wait (a "Retry now" click, the browser going online). */
  retryNow() {
    if (this.socket) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.#open();
  }

  /** Stops for good: no socket, no retry (the sign-in is gone). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.openTimer);
    this.retryTimer = null;
    const socket = this.socket;
    this.socket = null;
    socket?.close();
  }

  /** Closes the current socket and opens a new one at once (e.g. the display name changed). */
  restart() {
    this.attempt = 0;
    if (this.socket) this.#drop(this.socket, 4000, 'restart', 0);
    else this.retryNow();
  }

  #open() {
    this.retryAt = null;
    this.#setState(this.everOnline ? 'reconnecting' : 'connecting');
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.socket = socket;
    this.openTimer = setTimeout(() => this.#drop(socket, 4000, 'open timeout'), OPEN_TIMEOUT_MS);
    socket.addEventListener('open', () => {
      clearTimeout(this.openTimer);
      if (this.socket === socket) this.onOpen();
    });
    socket.addEventListener('message', (event) => {
      if (this.socket !== socket || typeof event.data !== 'string') return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && typeof frame.type === 'string') this.onFrame(frame);
    });
    // `error` is always followed by `close`; all recovery happens there.
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return;
      this.#lost(event);
    });
  }

  /** Gives up on `socket` now: the page behaves as if it had closed. */
  #drop(socket, code, reason, delay) {
    if (this.socket !== socket) return;
    try {
      socket.close(code, reason);
    } catch {
      // Already closing.
    }
    this.#lost({ code, reason, wasClean: false }, delay);
  }

  #lost(event, delay) {
    clearTimeout(this.openTimer);
    this.socket = null;
    if (this.onlineSince !== null && Date.now() - this.onlineSince >= STABLE_MS) this.attempt = 0;
    this.onlineSince = null;
    this.onClose(event);
    this.#scheduleRetry(delay);
  }

  #scheduleRetry(delay = backoffDelay(this.attempt)) {
    if (this.stopped) return;
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this.#setState(this.everOnline ? 'reconnecting' : 'connecting');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.#open();
    }, delay);
  }

  #setState(state) {
    this.state = state;
    this.onState(state, { retryAt: this.retryAt, attempt: this.attempt });
  }
}
