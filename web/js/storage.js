// What the page remembers across reloads, in localStorage: the display name, the rooms, the
// room in view, the last seq read in each room, each room's notification bell, the user ids this browser had (to tell its own messages apart after a
// reconnect gives it a new one) and the outbox of messages and changes not yet confirmed by the server.
// Storage can be full or disabled (private modes): every access degrades to "not remembered".

const KEYS = {
  name: 'chat.name',
  rooms: 'chat.rooms',
  active: 'chat.activeRoom',
  myIds: 'chat.myIds',
  outbox: 'chat.outbox',
  read: 'chat.readSeq',
  bells: 'chat.bells',
};

/** How many past user ids to remember; older messages of ours then look like anyone's. */
const MAX_IDS = 200;

function read(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

function write(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Quota or disabled storage: the page keeps working, it just forgets on reload.
  }
}

export function loadName() {
  const name = read(KEYS.name, null);
  return typeof name === 'string' ? name : null;
}

export function saveName(name) {
  write(KEYS.name, name);
}

export function loadRooms() {
  const rooms = read(KEYS.rooms, null);
  return Array.isArray(rooms) ? rooms.filter((r) => typeof r === 'string') : null;
}

export function saveRooms(rooms) {
  write(KEYS.rooms, rooms);
}

export function loadActiveRoom() {
  const room = read(KEYS.active, null);
  return typeof room === 'string' ? room : null;
}

export function saveActiveRoom(room) {
  write(KEYS.active, room);
}

export function loadMyIds() {
  const ids = read(KEYS.myIds, []);
  return Array.isArray(ids) ? ids.filter((id) => typeof id === 'string') : [];
}

export function saveMyIds(ids) {
  write(KEYS.myIds, ids.slice(-MAX_IDS));
}

/** Kinds of outbox entry: a message, or a change to one. */
const ENTRY_TYPES = new Set(['send', 'edit', 'delete', 'react']);
/** What a remembered file of a pending message keeps (what the message list shows). */
const FILE_FIELDS = ['id', 'name', 'size', 'type', 'url', 'thumb', 'width', 'height'];

/**
 * The persisted outbox: messages typed and changes made (edit, delete, react) not yet echoed
 * by the server, oldest first. Anything malformed is dropped.
 */
export function loadOutbox() {
  const entries = read(KEYS.outbox, []);
  if (!Array.isArray(entries)) return [];
  return entries.filter(validEntry).map((e) => ({
    id: e.id,
    type: e.type ?? 'send',
    room: e.room,
    text: typeof e.text === 'string' ? e.text : '',
    ...(e.type && e.type !== 'send' ? { target: e.target } : {}),
    ...(e.type === 'react' ? { emoji: e.emoji, active: e.active } : {}),
    files: Array.isArray(e.files) ? e.files.filter((f) => f && typeof f.id === 'string').map(fileFields) : [],
    createdAt: Number(e.createdAt) || Date.now(),
    state: e.state === 'failed' ? 'failed' : 'pending',
    error: typeof e.error === 'string' ? e.error : null,
    // Whatever was sent before the reload went out on a connection that is gone.
    sentOn: null,
  }));
}

function validEntry(e) {
  if (!e || typeof e.id !== 'string' || typeof e.room !== 'string') return false;
  const type = e.type ?? 'send';
  if (!ENTRY_TYPES.has(type)) return false;
  if (type !== 'send' && !Number.isSafeInteger(e.target)) return false;
  if (type === 'react') return typeof e.emoji === 'string' && typeof e.active === 'boolean';
  return type === 'delete' || typeof e.text === 'string';
}

function fileFields(file) {
  return Object.fromEntries(FILE_FIELDS.filter((k) => k in file).map((k) => [k, file[k]]));
}

export function saveOutbox(outbox) {
  write(
    KEYS.outbox,
    outbox.map(({ id, type, room, text, target, emoji, active, files, createdAt, state, error }) => ({
      id,
      type,
      room,
      text,
      target,
      emoji,
      active,
      files: files?.map(fileFields),
      createdAt,
      state,
      error,
    })),
  );
}

/** Last seq read per room ({ room: seq }): what came after it is unread on the next visit. */
export function loadReadSeqs() {
  return objectOf(read(KEYS.read, {}), (v) => Number.isSafeInteger(v) && v >= 0);
}

export function saveReadSeqs(seqs) {
  write(KEYS.read, seqs);
}

/** Each room's notification bell ({ room: 'all' | 'mentions' | 'none' }). */
export function loadBells() {
  return objectOf(read(KEYS.bells, {}), (v) => typeof v === 'string');
}

export function saveBells(bells) {
  write(KEYS.bells, bells);
}

/** The entries of a stored object whose values pass `valid` (anything else: empty). */
function objectOf(value, valid) {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => valid(v)));
}
