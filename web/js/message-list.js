// The message list of the room in view: messages in seq order, grouped by author, with day
// dividers, the "New messages" divider, join and leave lines (folded when many), "could not be
// recovered" and "history reset" markers, and the user's own pending messages at the end.
// Each message is a row (message-row.js) showing its current state and the user's pending
// changes; its actions (react, edit in place, delete) come from message-actions.js.
// Rendering is keyed: a message's element is built once and kept, so re-rendering never
// re-announces or re-creates what is already on screen.

import { isChange, withPending } from './changes.js';
import { dayKey, dayLabel, el, timeElement } from './dom.js';
import { MessageActions } from './message-actions.js';
import { MessageEditor } from './message-editor.js';
import { fillRow, rowNode } from './message-row.js';

/** Messages of one author closer than this share a group (one name, one avatar). */
const GROUP_GAP_MS = 5 * 60 * 1000;
/** Within this distance of the top, older history is fetched. */
const LOAD_MARGIN_PX = 300;
/** Within this distance of the bottom, the view follows new messages. */
const STICK_PX = 80;
/** This many join/leave lines in a row or more are folded into one. */
const FOLD_EVENTS = 4;

export class MessageList {
  /**
   * @param {HTMLElement} scroller the scrolling container
   * @param {HTMLOListElement} list the <ol> inside it
   * @param {object} actions { loadOlder(room), discard(id), jumpShown(bool), edit(seq, text),
   *   remove(seq), pickReaction(seq), react(seq, emoji, active), openImage(href, name),
   *   maxBytes() }
   */
  constructor(scroller, list, actions) {
    this.scroller = scroller;
    this.list = list;
    this.actions = actions;
    this.roomName = null;
    this.nodes = new Map();
    this.lastKey = null;
    this.editor = new MessageEditor({
      save: (seq, text) => actions.edit(seq, text),
      maxBytes: () => actions.maxBytes(),
      done: (seq) => this.focusMessage(seq),
    });
    new MessageActions(list, {
      edit: (seq) => this.edit(seq),
      remove: (seq) => actions.remove(seq),
      pickReaction: (seq) => actions.pickReaction(seq),
      react: (seq, emoji, active) => actions.react(seq, emoji, active),
      openImage: (href, name) => actions.openImage(href, name),
    });
    let queued = false;
    scroller.addEventListener('scroll', () => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        this.#afterScroll();
      });
    });
  }

  /** Brings the list in line with `room` (null: no room). */
  render(room, store) {
    const switching = room?.name !== this.roomName;
    if (switching) {
      this.editor.cancel({ refocus: false });
      this.list.replaceChildren();
      this.nodes.clear();
      this.roomName = room?.name ?? null;
      this.lastKey = null;
      this.divider = null;
    }
    if (!room) return;
    this.room = room;
    this.store = store;
    const anchor = switching ? null : this.#anchor();
    const items = buildItems(room, store);
    this.#patch(items, room, store);
    const newLast = items.length ? items[items.length - 1].key : null;
    const appended = newLast !== this.lastKey && !switching;
    this.lastKey = newLast;
    const divider = this.nodes.get('new-divider') ?? null;
    const freshDivider = divider !== null && (switching || divider !== this.divider);
    this.divider = divider;
    if (freshDivider) {
      // Open the room where the unread messages begin, not at the bottom.
      const offset = divider.getBoundingClientRect().top - this.scroller.getBoundingClientRect().top;
      this.scroller.scrollTop = Math.max(0, this.scroller.scrollTop + offset - 8);
      this.actions.jumpShown(!this.atBottom());
    } else if (switching || anchor === null) {
      this.scrollToBottom();
    } else {
      this.#restore(anchor);
      if (appended) this.actions.jumpShown(true);
    }
    this.#maybeLoadOlder();
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.actions.jumpShown(false);
  }

  atBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < STICK_PX;
  }

  /** Where the reader is: null at the bottom, else the first visible item and its offset. */
  #anchor() {
    if (this.atBottom()) return null;
    const top = this.scroller.scrollTop;
    for (const node of this.list.children) {
      // Not the top row nor a day divider: older messages of the same day move those above them.
      const moves = node.dataset.key === 'top' || node.dataset.key.startsWith('day-');
      if (node.offsetTop + node.offsetHeight > top && !moves) {
        return { key: node.dataset.key, offset: node.offsetTop - top };
      }
    }
    return null;
  }

  #restore(anchor) {
    const node = this.nodes.get(anchor.key);
    if (node) this.scroller.scrollTop = node.offsetTop - anchor.offset;
  }

  #afterScroll() {
    if (this.atBottom()) this.actions.jumpShown(false);
    this.#maybeLoadOlder();
  }

  #maybeLoadOlder() {
    const room = this.room;
    if (!room || room.name !== this.roomName || !room.hasMore || room.loadingOlder) return;
    if (this.scroller.scrollTop < LOAD_MARGIN_PX) this.actions.loadOlder(room.name);
  }

  /** Makes the <ol> hold exactly `items`, reusing elements by key. */
  #patch(items, room, store) {
    const wanted = new Set(items.map((i) => i.key));
    for (const [key, node] of this.nodes) {
      if (!wanted.has(key)) {
        node.remove();
        this.nodes.delete(key);
      }
    }
    const ctx = context(room, store);
    let cursor = this.list.firstElementChild;
    for (const item of items) {
      let node = this.nodes.get(item.key);
      if (!node) {
        node = build(item, this.actions);
        node.dataset.key = item.key;
        this.nodes.set(item.key, node);
      }
      update(node, item, room, store, ctx);
      if (node !== cursor) this.list.insertBefore(node, cursor);
      else cursor = cursor.nextElementSibling;
    }
    if (this.editor.seq !== null) {
      const row = this.#row(this.editor.seq);
      // The message went (deleted elsewhere, or out of view): nothing left to edit.
      if (!row || row.classList.contains('deleted')) this.editor.cancel({ refocus: false });
    }
    // One message is reachable with Tab (the one last focused, else the latest); arrows move.
    const rows = this.list.querySelectorAll('.msg[data-seq]');
    if (rows.length && !this.list.querySelector('.msg[data-seq][tabindex="0"]')) rows[rows.length - 1].tabIndex = 0;
  }

  /** The row of the message at `seq` in the room in view (after a history reset, the newer one), or null. */
  #row(seq) {
    return [...this.list.querySelectorAll(`.msg[data-seq="${Number(seq)}"]`)].at(-1) ?? null;
  }

  /** Focuses the message at `seq` (after an edit, a reaction, a deletion). */
  focusMessage(seq) {
    const row = this.#row(seq);
    if (row) row.focus();
  }

  /** Opens the editor on the message at `seq`, if the user may edit it. */
  edit(seq) {
    const row = this.#row(seq);
    const message = this.store?.message(this.roomName, seq);
    if (!row || !message || !this.store.canChange(message)) return false;
    const text = withPending(message, this.store.changesIn(this.roomName), this.store.me?.id).text;
    this.editor.open(row, seq, text);
    return true;
  }
}

/** The rows the list should show, in order, each with a stable key. */
function buildItems(room, store) {
  const items = [{ key: 'top', kind: 'top' }];
  let previous = null;
  let day = null;
  const days = new Map();
  const push = (item, ts) => {
    if (ts !== undefined && dayKey(ts) !== day) {
      day = dayKey(ts);
      // Keyed by the day (and its repeat after a history reset), not by position: older
      // messages arriving above must not make it a new row, which would lose the reader's place.
      days.set(day, (days.get(day) ?? 0) + 1);
      items.push({ key: `day-${day}-${days.get(day)}`, kind: 'day', ts });
      previous = null;
    }
    if (item.kind === 'message' || item.kind === 'pending') {
      const author = item.own ? 'me' : `${item.from?.id}`;
      item.first = !previous || previous.author !== author || ts - previous.ts > GROUP_GAP_MS;
      if (previous && item.first) previous.item.last = true;
      previous = { author, ts, item };
    } else {
      if (previous) previous.item.last = true;
      previous = null;
    }
    items.push(item);
  };
  // Join and leave lines go between the messages by time, in runs; a long run is one line.
  const events = [...room.events];
  let run = [];
  const flushRun = () => {
    if (run.length >= FOLD_EVENTS) push({ key: `events-${run[0].key}`, kind: 'events', events: run }, run[0].ts);
    else for (const event of run) push({ key: event.key, kind: 'event', event }, event.ts);
    run = [];
  };
  const eventsBefore = (ts) => {
    while (events.length && (ts === undefined || events[0].ts < ts)) run.push(events.shift());
    flushRun();
  };
  let dividerPlaced = room.divider === null;
  const changes = store.changesIn(room.name);
  const lastSegment = room.segments.length - 1;
  room.segments.forEach((segment, index) => {
    if (index > 0) push({ key: `reset-${index}`, kind: 'reset' });
    const gaps = [...segment.gapsAfter].sort((a, b) => a - b);
    const messages = [...segment.bySeq.values()].sort((a, b) => a.seq - b.seq);
    for (const message of messages) {
      // Changes show in their targets, not as rows of their own.
      if (isChange(message)) continue;
      while (gaps.length && gaps[0] < message.seq) push({ key: `gap-${index}-${gaps.shift()}`, kind: 'gap' });
      if (index === lastSegment) eventsBefore(message.ts);
      if (!dividerPlaced && index === lastSegment && message.seq >= room.divider) {
        dividerPlaced = true;
        push({ key: 'new-divider', kind: 'new' }, message.ts);
      }
      push(
        {
          key: `m-${index}-${message.seq}`,
          kind: 'message',
          message,
          // The user's changes waiting in the outbox show on the message they change.
          view: index === lastSegment ? withPending(message, changes, store.me?.id) : { ...message, pending: null },
          from: message.from,
          own: store.isOwn(message),
        },
        message.ts,
      );
    }
    for (const seq of gaps) push({ key: `gap-${index}-${seq}`, kind: 'gap' });
  });
  eventsBefore(undefined);
  for (const entry of store.pendingIn(room.name)) {
    push({ key: `p-${entry.id}`, kind: 'pending', entry, own: true }, entry.createdAt);
  }
  if (previous) previous.item.last = true;
  return items;
}

/**
 * What showing a message needs to know: the names to highlight as mentions and ours, the
 * user's id, whether it may react (joined, or changes wait in the outbox until it is), and the
 * names of the users who reacted.
 */
function context(room, store) {
  const me = store.me?.name ?? store.name ?? null;
  const names = [...room.members.values()].map((m) => m.name);
  if (me) names.push(me);
  const known = new Map();
  for (const segment of room.segments) for (const m of segment.bySeq.values()) if (m.from) known.set(m.from.id, m.from.name);
  for (const member of room.members.values()) known.set(member.id, member.name);
  return {
    names,
    me,
    myId: store.me?.id ?? null,
    canReact: store.me !== null,
    nameOf: (id) => known.get(id) ?? 'someone',
    store,
  };
}

function build(item, actions) {
  switch (item.kind) {
    case 'new': {
      const node = el('li', 'divider new-divider');
      node.append(el('span', '', 'New messages'));
      return node;
    }
    case 'event':
      return eventNode(item.event);
    case 'events':
      return eventsNode(item.events);
    case 'top':
      return el('li', 'history-top');
    case 'day': {
      const node = el('li', 'divider day-divider');
      node.append(el('span', '', dayLabel(item.ts)));
      return node;
    }
    case 'gap': {
      const node = el('li', 'divider gap-divider');
      node.append(el('span', '', 'Some messages could not be recovered'));
      return node;
    }
    case 'reset': {
      const node = el('li', 'divider reset-divider');
      node.append(el('span', '', 'The server restarted and lost its history; newer messages below'));
      return node;
    }
    case 'message': {
      const { message } = item;
      const node = rowNode(item.view, message.from?.name ?? 'unknown', item.own, message.from?.id);
      node.tabIndex = -1;
      return node;
    }
    case 'pending': {
      const node = rowNode({ ts: item.entry.createdAt }, 'You', true);
      node.classList.add('pending');
      const status = el('span', 'msg-status');
      status.setAttribute('role', 'status');
      node.querySelector('.msg-foot').append(status);
      node.dataset.clientId = item.entry.id;
      node.addEventListener('click', (event) => {
        if (event.target.closest('.msg-discard')) actions.discard(item.entry.id);
      });
      return node;
    }
    default:
      return el('li');
  }
}

const EVENT_TEXT = { join: 'joined', leave: 'left' };

/** "alice joined" at its time. */
function eventNode(event) {
  const node = el('li', 'event');
  node.append(el('span', 'event-text', `${event.user?.name ?? 'someone'} ${EVENT_TEXT[event.event]}`));
  node.append(timeElement(event.ts, 'event-time'));
  return node;
}

/** A run of joins and leaves as one line ("5 joins and leaves") that opens to show them. */
function eventsNode(events) {
  const node = el('li', 'event events');
  const details = el('details');
  const summary = el('summary', 'event-text');
  const list = el('ul', 'event-lines');
  details.append(summary, list);
  node.append(details);
  fillEvents(node, events);
  return node;
}

function fillEvents(node, events) {
  if (node.dataset.count === String(events.length)) return;
  node.dataset.count = String(events.length);
  const joined = new Set(events.filter((e) => e.event === 'join').map((e) => e.user?.name));
  const left = new Set(events.filter((e) => e.event === 'leave').map((e) => e.user?.name));
  const parts = [];
  if (joined.size) parts.push(`${joined.size} ${joined.size === 1 ? 'person' : 'people'} joined`);
  if (left.size) parts.push(`${left.size} left`);
  node.querySelector('summary').textContent = `${parts.join(', ')} (${events.length} changes)`;
  node.querySelector('.event-lines').replaceChildren(
    ...events.map((e) => {
      const li = el('li', '', `${e.user?.name ?? 'someone'} ${EVENT_TEXT[e.event]} `);
      li.append(timeElement(e.ts, 'event-time'));
      return li;
    }),
  );
}

/**
 * Refreshes what can change on an existing row: grouping, a message's state (edits, deletion,
 * reactions, the user's pending changes), pending state, the top row.
 */
function update(node, item, room, store, ctx) {
  if (item.kind === 'message' || item.kind === 'pending') {
    node.classList.toggle('first', item.first === true);
    node.classList.toggle('last', item.last === true);
  }
  if (item.kind === 'message') {
    node.dataset.seq = String(item.message.seq);
    fillRow(node, item.view, { ...ctx, canChange: store.canChange(item.message) });
    node.classList.toggle('mentioned', !item.own && Boolean(ctx.me) && node.querySelector('.mention-me') !== null);
  }
  if (item.kind === 'pending') {
    const view = { text: item.entry.text, files: item.entry.files ?? [], ts: item.entry.createdAt, pending: null };
    fillRow(node, view, { ...ctx, canReact: false, canChange: false });
    updatePending(node, item.entry, store);
  }
  if (item.kind === 'events') fillEvents(node, item.events);
  if (item.kind === 'top') updateTop(node, room);
}

/** Why the server refused a message for good, in a few words. */
const REFUSAL = { too_large: 'too long', bad_request: 'not accepted', bad_room: 'bad room name' };

function updatePending(node, entry, store) {
  const status = node.querySelector('.msg-status');
  const failed = entry.state === 'failed';
  node.classList.toggle('failed', failed);
  const text = failed
    ? `Not sent: ${REFUSAL[entry.error] ?? 'refused by the server'}`
    : store.online && store.room(entry.room)?.joined
      ? 'Sending…'
      : 'Waiting for connection…';
  if (status.firstChild?.textContent !== text) {
    status.replaceChildren(el('span', 'msg-state', text));
    if (failed) {
      const discard = el('button', 'msg-discard link-button', 'Delete');
      discard.type = 'button';
      discard.setAttribute('aria-label', 'Delete unsent message');
      status.append(discard);
    }
  }
}

function updateTop(node, room) {
  let text;
  if (room.loadingOlder) text = 'Loading earlier messages…';
  else if (room.hasMore) text = '';
  else if (room.joined || room.lastSeq !== null) text = `This is the beginning of #${room.name}.`;
  else text = '';
  const state = room.loadingOlder ? 'loading' : room.hasMore ? 'more' : 'start';
  if (node.dataset.state === state && node.dataset.text === text) return;
  node.dataset.state = state;
  node.dataset.text = text;
  node.replaceChildren();
  if (state === 'more') {
    const button = el('button', 'link-button load-older', 'Load earlier messages');
    button.type = 'button';
    button.dataset.room = room.name;
    node.append(button);
  } else if (text) {
    node.append(el('span', state === 'start' ? 'room-start' : 'loading', text));
  }
}
