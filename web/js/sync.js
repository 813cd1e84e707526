// The protocol's bookkeeping as small pure functions: no DOM, no socket, no clock of their own.
// store.js applies them to the page's state; the browser tests exercise them through the UI.

/** Room names the server accepts: 1–64 of A–Z a–z 0–9 _ - . */
const ROOM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** Longest display name the server keeps (longer ones become guest-<n>). */
export const MAX_NAME_CHARS = 32;
/** Longest client id the server accepts on a send. */
export const MAX_CLIENT_ID_CHARS = 64;

/** A room name typed by a person ("#General ") as the protocol wants it, or null. */
export function normalizeRoomName(input) {
  const name = String(input ?? '').trim().replace(/^#+/, '');
  return ROOM_NAME.test(name) ? name : null;
}

/** A display name as the server would keep it (trimmed, 1–32 printable characters), or null. */
export function normalizeDisplayName(input) {
  const name = String(input ?? '').trim();
  const chars = [...name].length;
  // Control characters (C0, DEL, C1) make the server pick a guest name instead.
  if (chars < 1 || chars > MAX_NAME_CHARS || /[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    return null;
  }
  return name;
}

/**
 * A fresh client id for a `send`: a random (v4) UUID. crypto.randomUUID exists only in secure
 * contexts; a server reached over plain http on another host gets the same from random bytes.
 */
export function newClientId() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Length of `text` in UTF-8 bytes, the unit of the server's max_text_bytes. */
export function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}

/**
 * Adds `incoming` messages to `bySeq` (a Map seq → message), skipping seqs already there.
 * Returns the messages that were new, in seq order: the only ones to count or announce.
 */
export function mergeMessages(bySeq, incoming) {
  const added = [];
  for (const message of incoming) {
    if (!Number.isSafeInteger(message?.seq) || bySeq.has(message.seq)) continue;
    bySeq.set(message.seq, message);
    added.push(message);
  }
  return added.sort((a, b) => a.seq - b.seq);
}

/**
 * Where to resume a room after a reconnect: `since` for the join, and the message the page
 * holds at its last seq (the anchor), if any.
 *
 * With an anchor the page asks for one message more than it needs (since = lastSeq − 1) so the
 * answer repeats the anchor: if the server's message at that seq differs, the server's history
 * was reset (an in-memory history lost in a restart) and its seqs started over. Without that
 * check, new messages reusing old seqs would be dropped as duplicates. The repeated message
 * itself is deduplicated by seq like any other.
 */
export function resumePoint(lastSeq, bySeq) {
  if (!Number.isSafeInteger(lastSeq)) return { since: null, anchor: null };
  const anchor = bySeq.get(lastSeq) ?? null;
  return { since: anchor ? lastSeq - 1 : lastSeq, anchor };
}

/**
 * Whether two messages are the same stored message (same seq, author, time, kind and target;
 * and text, unless either was edited or deleted since, or is a change, whose text a deletion
 * erases).
 */
export function sameMessage(a, b) {
  const same =
    a.seq === b.seq &&
    a.ts === b.ts &&
    a.from?.id === b.from?.id &&
    (a.kind ?? null) === (b.kind ?? null) &&
    (a.target ?? null) === (b.target ?? null);
  const textKept = !a.kind && !b.kind && !a.edited && !b.edited && !a.deleted && !b.deleted;
  return same && (!textKept || a.text === b.text);
}

/**
 * What a `joined` frame answering a resume (see resumePoint) says about the page's copy:
 * - `reset`: the server no longer has the history the page saw (its latest seq is below ours,
 *   or its message at our last seq is another one): everything the page holds is from before.
 * - `gap`: messages after our last seq are missing (the server's retention dropped them).
 */
export function classifyResume(lastSeq, anchor, joined) {
  const history = Array.isArray(joined.history) ? joined.history : [];
  if (!Number.isSafeInteger(lastSeq)) return { reset: false, gap: false };
  if (joined.seq < lastSeq) return { reset: true, gap: false };
  if (anchor) {
    const echo = history.find((m) => m.seq === anchor.seq);
    if (echo && !sameMessage(echo, anchor)) return { reset: true, gap: false };
  }
  // `complete: false` can only mean lost messages after our last seq when what came back does
  // not start right after it (with the anchor, the anchor itself may be the one retention lost).
  const continues = history.length > 0 && history[0].seq <= lastSeq + 1;
  return { reset: false, gap: joined.complete === false && !continues };
}

/**
 * The outbox after `messages` arrived: entries whose client id came back are settled.
 * Returns the remaining entries and the settled ids.
 */
export function settleOutbox(outbox, messages, refreshed = []) {
  const echoed = new Set();
  for (const m of messages) if (typeof m.client_id === 'string') echoed.add(m.client_id);
  // A reaction that changed nothing is answered with the target's state alone, not an echo.
  const answered = new Set(refreshed.map((m) => `${m.room}/${m.seq}`));
  const settled = [];
  const remaining = [];
  for (const entry of outbox) {
    const noop = entry.type === 'react' && entry.sentOn !== null && answered.has(`${entry.room}/${entry.target}`);
    if (echoed.has(entry.id) || noop) settled.push(entry.id);
    else remaining.push(entry);
  }
  return { remaining, settled };
}

/**
 * The frame an outbox entry puts on the wire: a `send` (with its files' ids), or a change
 * (`edit`, `delete`, `react`) to the message at seq `target`. Every one carries the entry's id,
 * so a resend is stored once and an error names it.
 */
export function frameOf(entry) {
  const { id, room } = entry;
  switch (entry.type ?? 'send') {
    case 'edit':
      return { type: 'edit', room, target: entry.target, text: entry.text, id };
    case 'delete':
      return { type: 'delete', room, target: entry.target, id };
    case 'react':
      return { type: 'react', room, target: entry.target, emoji: entry.emoji, active: entry.active, id };
    default: {
      const frame = { type: 'send', room, text: entry.text, id };
      if (entry.files?.length) frame.files = entry.files.map((f) => f.id);
      return frame;
    }
  }
}

/**
 * The entries of `outbox` to put on the wire now, oldest first: those of rooms the current
 * connection has joined that were not yet sent on it. An entry sent on an earlier connection
 * and never echoed is sent again with the same id; the server's resend rule stores it once.
 */
export function dueForSending(outbox, joinedRooms, connection) {
  return outbox.filter(
    (e) => e.state !== 'failed' && joinedRooms.has(e.room) && e.sentOn !== connection,
  );
}

/**
 * Milliseconds to wait before reconnect attempt `attempt` (0-based): exponential backoff from
 * `base` up to `cap`, with "equal jitter" (half fixed, half random) so that clients cut off
 * together do not come back together, yet never retry in a tight loop.
 */
export function backoffDelay(attempt, random = Math.random, base = 500, cap = 15000) {
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * A token bucket like the server's rate limit, so the page paces its own sends instead of
 * being refused. Pure: the caller passes the time.
 */
export function createBucket(perSecond, burst, now) {
  return { perSecond, burst, tokens: burst, at: now };
}

/** Takes a token at `now` if there is one; returns whether it did. */
export function takeToken(bucket, now) {
  refill(bucket, now);
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

/** Milliseconds from `now` until a token is available (0 when one is). */
export function tokenWait(bucket, now) {
  refill(bucket, now);
  return bucket.tokens >= 1 ? 0 : Math.ceil(((1 - bucket.tokens) / bucket.perSecond) * 1000);
}

function refill(bucket, now) {
  const elapsed = Math.max(0, now - bucket.at) / 1000;
  bucket.tokens = Math.min(bucket.burst, bucket.tokens + elapsed * bucket.perSecond);
  bucket.at = now;
}

/** The URL when it parses as http(s), else null: no javascript:, data: or other schemes. */
export function safeHref(candidate) {
  try {
    const url = new URL(candidate);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}
