// A protocol client in Node (the `ws` package), standing in for "another user" in tests.

import WebSocket from 'ws';

import { WAIT } from './browser.mjs';

export async function connectClient(addr, name) {
  const socket = new WebSocket(`ws://${addr}/ws?name=${encodeURIComponent(name)}`);
  const frames = [];
  const waiters = new Set();
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data));
    frames.push(frame);
    for (const w of waiters) w();
  });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const client = {
    frames,
    /** Resolves with the first frame (from index `from`) matching `predicate`. */
    waitFor(predicate, { from = 0, timeout = WAIT } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = frames.slice(from).find(predicate);
          if (found) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching frame within ${timeout} ms; got ${JSON.stringify(frames.slice(-5))}`));
        }, timeout);
        waiters.add(check);
        check();
      });
    },
    send(frame) {
      socket.send(JSON.stringify(frame));
    },
    async join(room) {
      const from = frames.length;
      client.send({ type: 'join', room });
      return client.waitFor((f) => f.type === 'joined' && f.room === room, { from });
    },
    /** Sends a message and waits for its echo. */
    async say(room, text) {
      const id = `node-${Math.random().toString(36).slice(2)}`;
      client.send({ type: 'send', room, text, id });
      return client.waitFor((f) => f.type === 'message' && f.client_id === id);
    },
    /** Every message delivered for `room`, in `joined` history or live, duplicates included. */
    messages(room) {
      return frames.flatMap((f) => {
        if (f.room !== room) return [];
        if (f.type === 'message') return [f];
        if (f.type === 'joined') return f.history;
        return [];
      });
    },
    /** Waits until a message with `text` was delivered for `room`, in history or live. */
    async waitForMessage(room, text) {
      await client.waitFor(() => client.messages(room).some((m) => m.text === text));
    },
    close() {
      socket.close();
    },
  };
  await client.waitFor((f) => f.type === 'welcome');
  return client;
}
