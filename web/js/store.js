// The page's state: who we are, the rooms we are in (messages by seq, last seq, members, who is
// typing, unread count), where files go (the welcome's `upload`) and the outbox of messages and
// changes (edit, delete, react) awaiting their echo. `apply(frame)` folds a
// server frame in and returns the effects the wiring must carry out (frames to send, notices);
// the store itself does no I/O and touches no DOM.

import { applyChange, isChange, lastEditable, takeState } from './changes.js';
import { mentions } from './mentions.js';
import {
  classifyResume,
  mergeMessages,
  resumePoint,
  settleOutbox,
} from './sync.js';

/** How long a typing indicator lasts without a refresh from its author. */
export const TYPING_TTL_MS = 6000;
/** History page size when scrolling up. */
export const HISTORY_PAGE = 50;
/** Join and leave lines kept per room on this page; older ones are dropped. */
const MAX_EVENTS = 200;
/** Prefix of the `id` put on join frames, so an error's `ref` names the room. */
const JOIN_REF = 'join:';

/**
 * One stretch of a room's history that shares a seq numbering. A room has more than one only
 * when the server's history was reset while the page was away.
 */
function newSegment() {
  return { bySeq: new Map(), gapsAfter: new Set() };
}

function newRoom(name) {
  return {
    name,
    segments: [newSegment()],
    /** Highest seq seen in the current segment (null: never joined on this page). */
    lastSeq: null,
    /** Whether the current connection's join was confirmed. */
    joined: false,
    /** Resume points of joins sent and not yet answered, in order. */
    resumes: [],
    /** A join to recover from a hole in the seqs is on its way. */
    recovering: false,
    members: new Map(),
    /** user id → { user, until } */
    typing: new Map(),
    unread: 0,
    /** Unread messages that mention the user. */
    mentions: 0,
    /** Seq of the first unread message while there are any (where the divider goes). */
    firstUnread: null,
    /** Seq above which the "New messages" divider sits in view (null: no divider). */
    divider: null,
    /** Last seq the user saw in this room, kept across visits (null: never saw it). */
    readSeq: null,
    /** Joins and leaves seen on this page, for the timeline: { key, ts, event, user }. */
    events: [],
    hasMore: false,
    loadingOlder: false,
    /** Bumped on every change that the message list shows. */
    version: 0,
  };
}

export class Store {
  constructor({ name, rooms, active, myIds, outbox, readSeqs = {} }) {
    this.name = name;
    /** { id, name } from the current connection's welcome. */
    this.me = null;
    this.myIds = new Set(myIds);
    this.limits = { max_text_bytes: 4096, messages_per_sec: 10, burst: 20, max_rooms: 32 };
    /** { url, token, max_bytes } from the current connection's welcome; null: no file sharing. */
    this.upload = null;
    this.rooms = new Map();
    for (const name of rooms) {
      const room = newRoom(name);
      if (Number.isSafeInteger(readSeqs[name])) room.readSeq = readSeqs[name];
      this.rooms.set(name, room);
    }
    /** Whether the user can see the page (the tab is shown); hidden, the room in view gets unread too. */
    this.visible = true;
    /** Numbers join and leave lines, so each keeps its element. */
    this.eventCount = 0;
    this.active = active && this.rooms.has(active) ? active : (rooms[0] ?? null);
    this.outbox = outbox;
    /** Counts connections, so an outbox entry knows whether it went out on this one. */
    this.connection = 0;
    this.online = false;
    /** Set when something persisted changed; the wiring saves and clears them. */
    this.dirty = { rooms: false, outbox: false, myIds: false, read: false };
  }

  room(name) {
    return this.rooms.get(name) ?? null;
  }

  current() {
    return this.active ? this.room(this.active) : null;
  }

  isOwn(message) {
    return this.myIds.has(message?.from?.id);
  }

  /**
   * Whether the user may edit or delete `message`: the server lets only its author, the same
   * user id, do so. Without sign-in every connection is a new user, so only the messages of
   * this connection qualify.
   */
  canChange(message) {
    return Boolean(this.me) && message?.from?.id === this.me.id && !message.deleted && !isChange(message);
  }

  /** The user's latest message in `room` that it may still edit (Up in an empty composer). */
  lastOwnMessage(name) {
    const room = this.room(name);
    if (!room || !this.me) return null;
    const messages = [...currentSegment(room).bySeq.values()].sort((a, b) => a.seq - b.seq);
    return lastEditable(messages, this.me.id);
  }

  /** The message at `seq` in `room`'s current history, or null. */
  message(name, seq) {
    const room = this.room(name);
    return room ? (currentSegment(room).bySeq.get(seq) ?? null) : null;
  }

  /** Adds a room to the sidebar (not yet joined); returns it. */
  addRoom(name) {
    let room = this.room(name);
    if (!room) {
      room = newRoom(name);
      this.rooms.set(name, room);
      this.dirty.rooms = true;
    }
    return room;
  }

  removeRoom(name) {
    if (!this.rooms.delete(name)) return;
    this.dirty.rooms = true;
    const before = this.outbox.length;
    this.outbox = this.outbox.filter((e) => e.room !== name);
    if (this.outbox.length !== before) this.dirty.outbox = true;
    if (this.active === name) this.active = [...this.rooms.keys()][0] ?? null;
  }

  setActive(name) {
    const room = this.room(name);
    if (!room) return;
    if (this.active !== name) {
      const previous = this.current();
      if (previous) previous.divider = null;
    }
    this.active = name;
    this.#seen(room);
  }

  /** The tab was shown or hidden. Shown, the room in view counts as read. */
  setVisible(visible) {
    this.visible = visible;
    const room = this.current();
    if (visible && room) this.#seen(room);
  }

  /** The user sees `room`: its unread become read, the divider marks where they began. */
  #seen(room) {
    if (room.firstUnread !== null) {
      room.divider = room.firstUnread;
      room.version += 1;
    }
    room.unread = 0;
    room.mentions = 0;
    room.firstUnread = null;
    const latest = room.lastSeq;
    if (latest !== null && latest !== room.readSeq) {
      room.readSeq = latest;
      this.dirty.read = true;
    }
  }

  /** Whether messages arriving in `room` now are seen as they come. */
  #watching(room) {
    return this.active === room.name && this.visible;
  }

  /** Last seen seq per room, to keep across visits. */
  readSeqs() {
    const seqs = {};
    for (const room of this.rooms.values()) if (room.readSeq !== null) seqs[room.name] = room.readSeq;
    return seqs;
  }

  /** Unread counts over all rooms: { unread, mentions }. */
  totals() {
    let unread = 0;
    let mentioned = 0;
    for (const room of this.rooms.values()) {
      unread += room.unread;
      mentioned += room.mentions;
    }
    return { unread, mentions: mentioned };
  }

  /** Whether `message` mentions the user. */
  mentionsMe(message) {
    const name = this.me?.name ?? this.name;
    return !this.isOwn(message) && mentions(message?.text, name);
  }

  /** A connection was opened: nothing is joined on it yet. */
  connectionStarted() {
    this.connection += 1;
    this.online = false;
    for (const room of this.rooms.values()) {
      room.joined = false;
      room.resumes = [];
      room.recovering = false;
      room.loadingOlder = false;
    }
  }

  connectionLost() {
    this.online = false;
    for (const room of this.rooms.values()) {
      room.joined = false;
      room.typing.clear();
      room.version += 1;
    }
  }

  /** The `join` frame for a room: with `since` when the page already saw some of it. */
  joinFrame(name) {
    const room = this.addRoom(name);
    let { since, anchor } = resumePoint(room.lastSeq, currentSegment(room).bySeq);
    // A first join of this visit starts where the user stopped reading last time, so what
    // came since counts as unread.
    const fromRead = since === null && room.readSeq !== null;
    if (fromRead) since = room.readSeq;
    room.resumes.push({ since, anchor, lastSeq: room.lastSeq, fromRead });
    // `id` is not part of `join` itself, but any frame's id comes back as an error's `ref`:
    // it tells which room a too_many_rooms or bad_room is about.
    const frame = { type: 'join', room: name, id: JOIN_REF + name };
    if (since !== null) frame.since = since;
    return frame;
  }

  /** The `history` frame for the page of messages older than what the room holds. */
  olderFrame(name) {
    const room = this.room(name);
    if (!room || !room.joined || !room.hasMore || room.loadingOlder) return null;
    room.loadingOlder = true;
    room.version += 1;
    const oldest = oldestSeq(room);
    const frame = { type: 'history', room: name, limit: HISTORY_PAGE };
    if (oldest !== null) frame.before = oldest;
    return frame;
  }

  /** Queues a message typed by the user (with the files it shares); returns its outbox entry. */
  enqueue(room, text, id, files = []) {
    const entry = { id, type: 'send', room, text, files, createdAt: Date.now(), state: 'pending', error: null, sentOn: null };
    return this.#queue(entry);
  }

  /**
   * Queues a change to the message at `change.target`: `{ type: 'edit', target, text }`,
   * `{ type: 'delete', target }` or `{ type: 'react', target, emoji, active }`.
   */
  enqueueChange(room, change, id) {
    const entry = { id, room, text: '', files: [], ...change, createdAt: Date.now(), state: 'pending', error: null, sentOn: null };
    return this.#queue(entry);
  }

  #queue(entry) {
    this.outbox.push(entry);
    this.dirty.outbox = true;
    this.room(entry.room).version += 1;
    return entry;
  }

  /** Entry `id` of the outbox went out on the current connection. */
  markSent(id) {
    const entry = this.outbox.find((e) => e.id === id);
    if (entry) entry.sentOn = this.connection;
  }

  discard(id) {
    const entry = this.outbox.find((e) => e.id === id);
    if (!entry) return;
    this.outbox = this.outbox.filter((e) => e.id !== id);
    this.dirty.outbox = true;
    const room = this.room(entry.room);
    if (room) room.version += 1;
  }

  /** Folds a server frame into the state; returns effects for the wiring. */
  apply(frame, now = Date.now()) {
    switch (frame?.type) {
      case 'welcome':
        return this.#welcome(frame);
      case 'joined':
        return this.#joined(frame);
      case 'message':
        return this.#message(frame);
      case 'history':
        return this.#history(frame);
      case 'presence':
        return this.#presence(frame, now);
      case 'typing':
        return this.#typing(frame, now);
      case 'error':
        return this.#error(frame);
      default:
        // `left` needs nothing (the room left the sidebar when the user asked); unknown
        // frame types are ignored, as the protocol asks of every client.
        return [];
    }
  }

  #welcome(frame) {
    this.me = frame.user;
    this.online = true;
    if (frame.limits) this.limits = { ...this.limits, ...frame.limits };
    const upload = frame.upload;
    this.upload = upload && typeof upload.url === 'string' && typeof upload.token === 'string' ? upload : null;
    if (!this.myIds.has(frame.user.id)) {
      this.myIds.add(frame.user.id);
      this.dirty.myIds = true;
    }
    return [...this.rooms.keys()].map((name) => ({ kind: 'send', frame: this.joinFrame(name) }));
  }

  #joined(frame) {
    const room = this.room(frame.room);
    if (!room) return [];
    const resume = room.resumes.shift() ?? { since: null, anchor: null, lastSeq: null };
    const history = Array.isArray(frame.history) ? frame.history : [];
    const effects = [];
    let segment = currentSegment(room);
    let added;
    if (resume.since === null || resume.fromRead) {
      // A first join on this page: the room's latest messages, or those since the user last
      // read it (on an earlier visit), which are unread.
      added = absorb(segment, history, frame.seq);
      room.hasMore = frame.seq > 0 && (oldestSeq(room) ?? frame.seq + 1) > 1;
      if (resume.fromRead && frame.seq < resume.since) {
        // The server's history started over since: what was read is gone with it.
        room.readSeq = null;
        this.dirty.read = true;
      } else if (resume.fromRead) {
        // Messages the answer's cap left out are unread too; their authors are unknown.
        const missed = added.length ? Math.max(0, added[0].seq - resume.since - 1) : 0;
        this.#countUnread(room, added, missed, true);
      }
    } else {
      const { reset, gap } = classifyResume(resume.lastSeq, resume.anchor, frame);
      if (reset) {
        segment = newSegment();
        room.segments.push(segment);
        room.lastSeq = null;
        // The answer starts at our old resume point; the server's latest page fills the rest.
        room.loadingOlder = true;
        effects.push({ kind: 'send', frame: { type: 'history', room: room.name, limit: HISTORY_PAGE } });
        effects.push({
          kind: 'notice',
          level: 'warning',
          text: `The server lost the history of #${room.name} (it restarted without keeping it). Messages above the line were seen before that.`,
        });
      } else if (gap) {
        segment.gapsAfter.add(resume.lastSeq);
        effects.push({
          kind: 'notice',
          level: 'warning',
          text: `Some messages in #${room.name} could not be recovered while you were away.`,
        });
      }
      added = absorb(segment, history, frame.seq);
      this.#countUnread(room, added);
    }
    // `added` is in seq order; a resume can bring thousands, too many to spread into max().
    room.lastSeq = Math.max(room.lastSeq ?? 0, frame.seq, added.at(-1)?.seq ?? 0);
    room.joined = true;
    room.recovering = false;
    room.members = new Map((frame.members ?? []).map((u) => [u.id, u]));
    room.typing.clear();
    room.version += 1;
    this.#settle(history);
    if (this.#watching(room)) this.#seen(room);
    effects.push({ kind: 'flush' });
    return effects;
  }

  #message(message) {
    const room = this.room(message.room);
    if (!room) return [];
    const effects = [];
    if (room.joined && room.lastSeq !== null && message.seq > room.lastSeq + 1) {
      // Every member sees every seq in order; a hole means frames were lost. Joining again
      // with `since` answers with everything after our last seq, this message included.
      if (!room.recovering) {
        room.recovering = true;
        effects.push({ kind: 'send', frame: this.joinFrame(room.name) });
      }
      return effects;
    }
    const segment = currentSegment(room);
    const held = segment.bySeq.get(message.seq);
    if (held && !isChange(held) && !isChange(message)) {
      // A message already held: the answer to a reaction that changed nothing (the target's
      // current state), or a resend's echo. Its state is the latest there is.
      takeState(held, message, room.lastSeq ?? message.seq);
      room.version += 1;
      this.#settle([message], [message]);
      return effects;
    }
    const added = mergeMessages(segment.bySeq, [message]);
    room.lastSeq = Math.max(room.lastSeq ?? 0, message.seq);
    room.version += 1;
    this.#settle([message]);
    if (isChange(message)) {
      // A change whose target is not loaded changes nothing on this page.
      if (added.length) applyChange(segment.bySeq.get(message.target), message);
      return effects;
    }
    takeState(null, message, message.seq);
    room.typing.delete(message.from?.id);
    if (added.length) {
      this.#countUnread(room, added);
      if (this.isOwn(message)) {
        // Writing in a room reads it: the divider above has done its job.
        if (room.divider !== null) room.divider = null;
        if (this.#watching(room)) this.#seen(room);
      } else {
        effects.push({ kind: 'incoming', message, mention: this.mentionsMe(message) });
        if (this.#watching(room)) this.#seen(room);
      }
    }
    return effects;
  }

  #history(frame) {
    const room = this.room(frame.room);
    if (!room) return [];
    const messages = Array.isArray(frame.messages) ? frame.messages : [];
    // The answer's states are as recent as everything delivered before it.
    absorb(currentSegment(room), messages, room.lastSeq ?? 0);
    room.hasMore = frame.has_more === true;
    room.loadingOlder = false;
    room.version += 1;
    this.#settle(messages);
    return [];
  }

  #presence(frame, now) {
    const room = this.room(frame.room);
    if (!room || !frame.user) return [];
    if (frame.event === 'join' || frame.event === 'leave') {
      room.events.push({ key: `e-${++this.eventCount}`, ts: now, event: frame.event, user: frame.user });
      if (room.events.length > MAX_EVENTS) room.events.splice(0, room.events.length - MAX_EVENTS);
    }
    if (frame.event === 'join') room.members.set(frame.user.id, frame.user);
    if (frame.event === 'leave') {
      room.members.delete(frame.user.id);
      room.typing.delete(frame.user.id);
    }
    room.version += 1;
    return [];
  }

  #typing(frame, now) {
    const room = this.room(frame.room);
    if (!room || !frame.user || this.isOwn({ from: frame.user })) return [];
    if (frame.active) room.typing.set(frame.user.id, { user: frame.user, until: now + TYPING_TTL_MS });
    else room.typing.delete(frame.user.id);
    return [];
  }

  #error(frame) {
    if (typeof frame.ref === 'string' && frame.ref.startsWith(JOIN_REF)) {
      const name = frame.ref.slice(JOIN_REF.length);
      if (frame.code === 'too_many_rooms' || frame.code === 'bad_room' || frame.code === 'forbidden') {
        this.removeRoom(name);
        return [{ kind: 'error', code: frame.code, message: frame.message, room: name }];
      }
    }
    const entry = frame.ref ? this.outbox.find((e) => e.id === frame.ref) : null;
    if (entry) {
      const room = this.room(entry.room);
      if (room) room.version += 1;
      if (frame.code === 'rate_limited' || frame.code === 'not_joined' || frame.code === 'internal') {
        // Not stored: send it again later (rate) or once the room is joined again.
        entry.sentOn = null;
        const effects = [{ kind: 'error', code: frame.code, message: frame.message }];
        if (frame.code === 'not_joined' && room) {
          room.joined = false;
          effects.push({ kind: 'send', frame: this.joinFrame(room.name) });
        } else {
          effects.push({ kind: 'retry-later' });
        }
        return effects;
      }
      if (entry.type && entry.type !== 'send') {
        // A change the server will never take (forbidden, not_found, bad_request): it goes,
        // said in words; the message shows its stored state again.
        this.outbox = this.outbox.filter((e) => e !== entry);
        this.dirty.outbox = true;
        return [{ kind: 'error', code: frame.code, message: frame.message, change: entry.type }];
      }
      // The server will never take this one (too_large, bad_request…): keep it, marked failed.
      entry.state = 'failed';
      entry.error = frame.code;
      this.dirty.outbox = true;
    } else if (frame.code === 'rate_limited') {
      // Only typing frames go without an id: a dropped one is not worth a word.
      return [];
    }
    return [{ kind: 'error', code: frame.code, message: frame.message }];
  }

  /**
   * Counts the messages among `added` that are not ours as unread (and those that mention us
   * as mentions), plus `missed` messages not held, unless the user is looking at the room
   * (`force`: count them anyway, for the divider of a return visit).
   */
  #countUnread(room, added, missed = 0, force = false) {
    if (!force && this.#watching(room) && room.firstUnread === null) return;
    const theirs = added.filter((m) => !isChange(m) && !this.isOwn(m));
    if (!theirs.length && !missed) return;
    if (room.firstUnread === null) room.firstUnread = theirs[0]?.seq ?? added[0]?.seq ?? null;
    room.unread += theirs.length + missed;
    room.mentions += theirs.filter((m) => this.mentionsMe(m)).length;
  }

  /**
   * Drops outbox entries whose echo is among `messages`, and reactions answered by the state
   * of their target (`refreshed`).
   */
  #settle(messages, refreshed = []) {
    if (!this.outbox.length) return;
    const { remaining, settled } = settleOutbox(this.outbox, messages, refreshed);
    if (settled.length) {
      this.outbox = remaining;
      this.dirty.outbox = true;
    }
  }

  /** Who is typing in `room` at `now`, expired entries dropped. */
  typingIn(room, now = Date.now()) {
    for (const [id, t] of room.typing) if (t.until <= now) room.typing.delete(id);
    return [...room.typing.values()].map((t) => t.user);
  }

  /** Messages typed in `name` and not yet echoed, oldest first. */
  pendingIn(name) {
    return this.outbox.filter((e) => e.room === name && (e.type ?? 'send') === 'send');
  }

  /** Changes made in `name` and not yet echoed, oldest first. */
  changesIn(name) {
    return this.outbox.filter((e) => e.room === name && e.type && e.type !== 'send');
  }
}

function currentSegment(room) {
  return room.segments[room.segments.length - 1];
}

/**
 * Adds an answer's messages (`joined.history`, `history.messages`) to `segment`: new ones
 * join it, held ones take the answer's state (as of seq `asOf`), and the changes among them
 * are applied in seq order to the targets whose state does not already reflect them. Returns
 * the messages that were new, in seq order.
 */
function absorb(segment, messages, asOf) {
  const added = mergeMessages(segment.bySeq, messages);
  const state = Math.max(asOf, messages.at(-1)?.seq ?? 0);
  const changes = [];
  for (const message of messages) {
    if (!Number.isSafeInteger(message?.seq)) continue;
    if (isChange(message)) changes.push(message);
    else {
      const held = segment.bySeq.get(message.seq);
      if (!isChange(held)) takeState(held, message, state);
    }
  }
  changes.sort((a, b) => a.seq - b.seq);
  for (const change of changes) applyChange(segment.bySeq.get(change.target), change);
  return added;
}

/** Lowest seq held in the current segment, or null when it holds none. */
function oldestSeq(room) {
  let oldest = null;
  for (const seq of currentSegment(room).bySeq.keys()) if (oldest === null || seq < oldest) oldest = seq;
  return oldest;
}
