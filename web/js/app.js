// Wiring: reads what the page remembers, opens the connection, feeds server frames to the
// store, carries out the store's effects (frames to send, notices, notifications), paces the
// outbox, and turns clicks and keys into store changes. Rendering is batched: one pass per
// frame. Each part of the page lives in its own module; this file only connects them.

import { Attachments } from './attachments.js';
import { Attention } from './attention.js';
import { auth } from './auth.js';
import { BellMenu } from './bell-menu.js';
import { Composer } from './composer.js';
import { ConfirmDialog } from './confirm-dialog.js';
import { Connection } from './connection.js';
import { ImageViewer } from './image-viewer.js';
import { MessageList } from './message-list.js';
import { NameDialog } from './name-dialog.js';
import { Notices, describeChangeError, describeError } from './notices.js';
import { Notifier } from './notify.js';
import { Panels } from './panels.js';
import {
  renderMe,
  renderMembers,
  renderRoomHeader,
  renderRoomList,
  renderStatus,
  renderTyping,
} from './render.js';
import { ReactionPicker } from './reaction-picker.js';
import { Shortcuts } from './shortcuts.js';
import * as saved from './storage.js';
import { Store } from './store.js';
import { Switcher } from './switcher.js';
import {
  createBucket,
  dueForSending,
  frameOf,
  newClientId,
  normalizeRoomName,
  takeToken,
  tokenWait,
} from './sync.js';
import { TypingSender } from './typing.js';

const $ = (id) => document.getElementById(id);
const els = {
  app: $('app'),
  skipLink: document.querySelector('.skip-link'),
  sidebar: $('sidebar'),
  roomList: $('room-list'),
  joinForm: $('join-form'),
  joinInput: $('join-input'),
  joinError: $('join-error'),
  meName: $('me-name'),
  meAvatar: $('me-avatar'),
  changeName: $('change-name'),
  menuButton: $('menu-button'),
  roomName: $('room-name'),
  roomMeta: $('room-meta'),
  status: $('status'),
  statusText: $('status-text'),
  retry: $('retry'),
  membersButton: $('members-button'),
  membersCount: $('members-count'),
  members: $('members'),
  membersTitle: $('members-title'),
  memberList: $('member-list'),
  notices: $('notices'),
  scroller: $('scroller'),
  empty: $('empty'),
  joinGeneral: $('join-general'),
  messages: $('messages'),
  jump: $('jump'),
  typing: $('typing'),
  offline: $('offline'),
  composer: $('composer'),
  input: $('composer-input'),
  inputLabel: $('composer-label'),
  sendButton: $('send-button'),
  counter: $('counter'),
  announcer: $('announcer'),
  nameDialog: $('name-dialog'),
  nameForm: $('name-form'),
  nameInput: $('name-input'),
  nameError: $('name-error'),
  nameCancel: $('name-cancel'),
  scrim: $('scrim'),
  sidebarClose: $('sidebar-close'),
  membersClose: $('members-close'),
  bellButton: $('bell-button'),
  bellMenu: $('bell-menu'),
  bellNote: $('bell-note'),
  bellAllow: $('bell-allow'),
  mentionList: $('mention-list'),
  switcher: $('switcher'),
  switcherInput: $('switcher-input'),
  switcherList: $('switcher-list'),
  shortcuts: $('shortcuts'),
  shortcutsClose: $('shortcuts-close'),
  shortcutsButton: $('shortcuts-button'),
  chat: $('chat'),
  attachButton: $('attach-button'),
  fileInput: $('file-input'),
  tray: $('attachments'),
  confirmDelete: $('confirm-delete'),
  reactionPicker: $('reaction-picker'),
  viewer: $('viewer'),
};

/** The first room of a first visit. */
const DEFAULT_ROOM = 'general';
/** Wait before sending again what the server refused as rate_limited. */
const RATE_RETRY_MS = 1000;

// --- state -----------------------------------------------------------------------------

/** The room a URL's fragment names (#general), unless it is an element's id (#composer-input). */
function roomFromHash() {
  const fragment = decodeURIComponent(location.hash.slice(1));
  return document.getElementById(fragment) ? null : normalizeRoomName(fragment);
}

const rememberedRooms = saved.loadRooms();
const hashRoom = roomFromHash();
const rooms = rememberedRooms ?? [DEFAULT_ROOM];
if (hashRoom && !rooms.includes(hashRoom)) rooms.push(hashRoom);
const store = new Store({
  name: saved.loadName(),
  rooms,
  active: hashRoom ?? saved.loadActiveRoom(),
  myIds: saved.loadMyIds(),
  outbox: saved.loadOutbox().filter((e) => rooms.includes(e.room)),
  readSeqs: saved.loadReadSeqs(),
});
store.setVisible(!document.hidden);
const attention = new Attention();
const notifier = new Notifier((room) => openRoom(room));
const notices = new Notices(els.notices, els.announcer);
let connState = { state: 'connecting', detail: {} };
let bucket = createBucket(9, 18, Date.now());
let pumpTimer = null;

const connection = new Connection({
  url: () => {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/ws?name=${encodeURIComponent(store.name ?? '')}${auth.query()}`;
  },
  onOpen: () => {
    store.connectionStarted();
    typing.reset();
  },
  onFrame: (frame) => {
    if (frame.type === 'welcome') {
      connection.markOnline();
      // Leave a little of the server's allowance for typing frames.
      const limits = frame.limits ?? {};
      const rate = Math.max(1, (limits.messages_per_sec ?? 10) * 0.9);
      bucket = createBucket(rate, Math.max(1, (limits.burst ?? 20) - 2), Date.now());
    }
    run(store.apply(frame));
  },
  onClose: (event) => {
    auth.closed(event).then((stop) => stop && connection.stop());
    store.connectionLost();
    typing.reset();
    render();
  },
  onState: (state, detail) => {
    const was = connState.state;
    connState = { state, detail };
    if (state === 'online' && was !== 'online' && connection.everOnline) {
      notices.announce('Connected.');
    } else if (state === 'reconnecting' && was === 'online') {
      notices.announce('Connection lost. Reconnecting…');
    }
    render();
  },
});

const typing = new TypingSender((frame) => {
  if (!connection.ready || !store.room(frame.room)?.joined) return false;
  if (frame.active && !takeToken(bucket, Date.now())) return false;
  return connection.send(frame);
});

const messageList = new MessageList(els.scroller, els.messages, {
  loadOlder: (room) => {
    const frame = store.olderFrame(room);
    if (frame && connection.send(frame)) render();
  },
  discard: (id) => {
    store.discard(id);
    persist();
    render();
  },
  jumpShown: (shown) => {
    els.jump.hidden = !shown;
  },
  maxBytes: () => store.limits.max_text_bytes,
  edit: (seq, text) => change({ type: 'edit', target: seq, text }),
  remove: (seq) => {
    const message = store.message(store.active, seq);
    if (!message || !store.canChange(message)) return;
    const files = (message.files ?? []).map((f) => f.name).join(', ');
    confirmDelete.ask(
      message.text || files,
      () => change({ type: 'delete', target: seq }),
      () => messageList.focusMessage(seq),
    );
  },
  pickReaction: (seq) => {
    const message = store.message(store.active, seq);
    if (!message || message.deleted) return;
    const mine = (message.reactions ?? []).filter((r) => r.users.includes(store.me?.id)).map((r) => r.emoji);
    reactionPicker.show(seq, mine);
  },
  react: (seq, emoji, active) => change({ type: 'react', target: seq, emoji, active }),
  openImage: (href, name) => imageViewer.show(href, name),
});

const confirmDelete = new ConfirmDialog(els.confirmDelete);
const imageViewer = new ImageViewer(els.viewer);
const reactionPicker = new ReactionPicker(els.reactionPicker, {
  pick: (seq, emoji) => {
    const message = store.message(store.active, seq);
    const mine = (message?.reactions ?? []).some((r) => r.emoji === emoji && r.users.includes(store.me?.id));
    change({ type: 'react', target: seq, emoji, active: !mine });
  },
  closed: (seq) => messageList.focusMessage(seq),
});

/** Queues a change to a message of the room in view (sent now, or after a reconnect). */
function change(entry) {
  if (!store.active) return;
  store.enqueueChange(store.active, entry, newClientId());
  persist();
  pump();
  render();
}

// --- effects ---------------------------------------------------------------------------

/** Carries out what the store asked for, then saves and re-renders. */
function run(effects) {
  for (const effect of effects) {
    switch (effect.kind) {
      case 'send':
        connection.send(effect.frame);
        break;
      case 'flush':
        pump();
        break;
      case 'retry-later':
        clearTimeout(pumpTimer);
        pumpTimer = setTimeout(pump, RATE_RETRY_MS);
        break;
      case 'notice':
        notices.show(effect.text, { level: effect.level ?? 'info' });
        notices.announce(effect.text);
        break;
      case 'error': {
        const text = effect.change
          ? describeChangeError(effect.change, effect.code, effect.message, store.limits)
          : describeError(effect.code, effect.message, store.limits);
        notices.show(text, { level: 'error', key: effect.code });
        notices.announce(text);
        break;
      }
      case 'incoming': {
        const m = effect.message;
        const files = (m.files ?? []).map((f) => f.name).join(', ');
        const said = m.text ? m.text.slice(0, 300) : `shared ${files}`;
        if (m.room === store.active) notices.announce(`${m.from?.name}: ${said}`);
        notifier.incoming(m, effect.mention);
        break;
      }
      default:
        break;
    }
  }
  persist();
  render();
}

/**
 * Sends what the outbox holds for joined rooms, oldest first, no faster than the server's rate
 * limit allows. Entries unacknowledged on an earlier connection go again with the same id.
 */
function pump() {
  clearTimeout(pumpTimer);
  pumpTimer = null;
  if (!connection.ready) return;
  const joined = new Set([...store.rooms.values()].filter((r) => r.joined).map((r) => r.name));
  for (const entry of dueForSending(store.outbox, joined, store.connection)) {
    const now = Date.now();
    if (!takeToken(bucket, now)) {
      pumpTimer = setTimeout(pump, tokenWait(bucket, now));
      break;
    }
    if (!connection.send(frameOf(entry))) break;
    store.markSent(entry.id);
  }
  render();
}

function persist() {
  const { dirty } = store;
  if (dirty.outbox) saved.saveOutbox(store.outbox);
  if (dirty.rooms) saved.saveRooms([...store.rooms.keys()]);
  if (dirty.myIds) saved.saveMyIds([...store.myIds]);
  if (dirty.read) saved.saveReadSeqs(store.readSeqs());
  store.dirty = { rooms: false, outbox: false, myIds: false, read: false };
  saved.saveActiveRoom(store.active);
}

// --- rendering -------------------------------------------------------------------------

let renderQueued = false;

/** Renders once for everything that happened in this turn (a hidden tab still updates). */
function render() {
  if (renderQueued) return;
  renderQueued = true;
  const draw = () => {
    renderQueued = false;
    renderNow();
  };
  if (document.hidden) setTimeout(draw, 50);
  else requestAnimationFrame(draw);
}

function renderNow() {
  const room = store.current();
  renderRoomList(els.roomList, store);
  renderRoomHeader(els, store);
  renderStatus(els, connState.state, connState.detail);
  renderMembers(els.memberList, els.membersTitle, store);
  renderMe(els, store);
  messageList.render(room, store);
  attachments.render();
  renderTyping(els.typing, room ? store.typingIn(room) : []);
  attention.show(room ? `#${room.name} · Chat` : 'Chat', store.totals());
  bellMenu.render();
}

// Typing indicators expire and the reconnect countdown ticks without any event.
setInterval(() => {
  const room = store.current();
  renderTyping(els.typing, room ? store.typingIn(room) : []);
  if (connState.state !== 'online') renderStatus(els, connState.state, connState.detail);
}, 1000);

// --- rooms -----------------------------------------------------------------------------

function openRoom(name, { focus = true } = {}) {
  if (store.active !== name) typing.stop();
  store.setActive(name);
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  persist();
  panels.closeOverlays();
  render();
  if (focus) els.input.focus();
}

function joinRoom(input) {
  const name = normalizeRoomName(input);
  if (!name) {
    showJoinError('Use 1–64 letters, digits, "-", "_" or "."');
    return false;
  }
  if (!store.room(name) && store.rooms.size >= store.limits.max_rooms) {
    showJoinError(`You can be in at most ${store.limits.max_rooms} rooms.`);
    return false;
  }
  showJoinError('');
  const isNew = !store.room(name);
  store.addRoom(name);
  if (isNew && connection.ready) connection.send(store.joinFrame(name));
  openRoom(name);
  return true;
}

function leaveRoom(name) {
  if (connection.ready) connection.send({ type: 'leave', room: name });
  const wasActive = store.active === name;
  store.removeRoom(name);
  notifier.forget(name);
  persist();
  if (wasActive && store.active) openRoom(store.active, { focus: false });
  render();
  (els.roomList.querySelector('.room-open') ?? els.joinInput).focus();
  notices.announce(`Left #${name}.`);
}

function showJoinError(text) {
  els.joinError.textContent = text;
  els.joinError.hidden = !text;
  els.joinInput.setAttribute('aria-invalid', text ? 'true' : 'false');
}

els.joinGeneral.addEventListener('click', () => joinRoom(DEFAULT_ROOM));

els.joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  if (joinRoom(els.joinInput.value)) els.joinInput.value = '';
});

// An error about what the field held goes once the field is cleared or holds a good name.
els.joinInput.addEventListener('input', () => {
  if (!els.joinError.hidden && (!els.joinInput.value.trim() || normalizeRoomName(els.joinInput.value))) {
    showJoinError('');
  }
});

/** Opens the room `delta` places above (−1) or below (+1) the one in view, wrapping around. */
function stepRoom(delta) {
  const names = [...store.rooms.keys()];
  if (!names.length) return;
  const at = names.indexOf(store.active);
  openRoom(names[(at + delta + names.length) % names.length]);
}

els.roomList.addEventListener('click', (event) => {
  const leave = event.target.closest('[data-leave]');
  if (leave) return leaveRoom(leave.dataset.leave);
  const open = event.target.closest('.room-open');
  if (open) openRoom(open.dataset.room);
});

els.messages.addEventListener('click', (event) => {
  if (event.target.closest('.load-older')) {
    const frame = store.olderFrame(store.active);
    if (frame && connection.send(frame)) render();
  }
});

// --- composer --------------------------------------------------------------------------

const composer = new Composer(els, {
  maxBytes: () => store.limits.max_text_bytes,
  members: () => {
    const room = store.current();
    return room ? [...room.members.values()].filter((m) => m.id !== store.me?.id) : [];
  },
  send: (text, files) => {
    const room = store.current();
    if (!room) return;
    store.enqueue(room.name, text, newClientId(), files);
    attachments.clear();
    persist();
    typing.stop();
    pump();
    render();
    requestAnimationFrame(() => messageList.scrollToBottom());
  },
  tooLong: () => notices.show(describeError('too_large', '', store.limits), { key: 'too_large' }),
  files: () => ({ ready: attachments.ready(), busy: attachments.busy() }),
  stillUploading: () => {
    const text = 'A file is still uploading: the message goes once you send it after the upload ends.';
    notices.show(text, { level: 'info', key: 'uploading' });
    notices.announce(text);
  },
  editLast: () => {
    const last = store.active ? store.lastOwnMessage(store.active) : null;
    return last ? messageList.edit(last.seq) : false;
  },
  typed: (text) => {
    if (!store.active) return;
    if (text.trim()) typing.input(store.active);
    else typing.stop();
  },
});

const attachments = new Attachments(els, {
  upload: () => store.upload,
  online: () => connection.ready,
  room: () => store.active,
  changed: () => render(),
  announce: (text) => notices.announce(text),
});

// The skip link moves focus without touching the URL (whose fragment names the room).
els.skipLink.addEventListener('click', (event) => {
  event.preventDefault();
  els.input.focus();
});

els.jump.addEventListener('click', () => {
  messageList.scrollToBottom();
  els.input.focus();
});

// --- name and panels -------------------------------------------------------------------

const nameDialog = new NameDialog(els, (name, first) => {
  const changed = name !== store.name;
  store.name = name;
  saved.saveName(name);
  render();
  if (first) start();
  else if (changed) connection.restart();
  els.input.focus();
});
els.changeName.addEventListener('click', () => nameDialog.ask(store.name, { first: false }));

const panels = new Panels(els, () => els.input.focus());

// --- notifications, keyboard -------------------------------------------------

const bellMenu = new BellMenu(els, notifier, () => store.active);

const switcher = new Switcher(
  els,
  () => [...store.rooms.values()],
  (name) => (store.room(name) ? openRoom(name) : joinRoom(name)),
);

new Shortcuts(els, {
  switcher: () => switcher.show(),
  step: stepRoom,
  blocked: () => els.nameDialog.open || switcher.open || confirmDelete.open || reactionPicker.open || imageViewer.open,
  // Dialogs close on Esc by themselves; the menus and completions are ours to close.
  closeAll: () => {
    const bell = bellMenu.close();
    return composer.closeMenus() || bell;
  },
});

// --- connection triggers ---------------------------------------------------------------

els.retry.addEventListener('click', () => connection.retryNow());
window.addEventListener('online', () => connection.retryNow());
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && connState.state !== 'online') connection.retryNow();
  store.setVisible(!document.hidden);
  persist();
  render();
});
window.addEventListener('hashchange', () => {
  const name = roomFromHash();
  if (name && name !== store.active) joinRoom(name);
});

// --- start -----------------------------------------------------------------------------

let started = false;
function start() {
  if (started) return;
  started = true;
  if (!rememberedRooms) store.dirty.rooms = true;
  persist();
  connection.start();
  render();
}

render();
if (!(await auth.start())) {
  // The sign-in screen is up: nothing to connect as.
} else if (auth.user) {
  // Signed in: the name is the token's, not the page's to change.
  store.name = auth.user.name;
  els.changeName.hidden = true;
  start();
  els.input.focus();
} else if (store.name) {
  start();
  els.input.focus();
} else {
  nameDialog.ask('', { first: true });
}
