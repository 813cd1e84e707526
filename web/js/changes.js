// Changes to earlier messages (edit, delete, react) as pure functions over held messages: no
// DOM, no socket. A change is itself a `message` with `kind` and `target`, stored in the room's
// seq order; a plain message from a `joined` or `history` answer already carries its current
// state (`text`, `edited`, `deleted`, `reactions`). Each held message remembers up to which
// seq its state is known (`stateSeq`), so a change the state already reflects (an old change
// in a page of history) is not applied again, and every later one is.

/** The kinds of change the protocol knows. */
const KINDS = new Set(['edit', 'delete', 'react']);
/** The most distinct emoji a message holds (the server refuses more). */
export const MAX_REACTIONS = 20;
/** Longest emoji (UTF-8 bytes) the server accepts in a reaction. */
export const MAX_EMOJI_BYTES = 32;

/** Whether `message` is a change to another message (not something to show in the timeline). */
export function isChange(message) {
  return KINDS.has(message?.kind);
}

/**
 * Gives a plain message its state as an answer carried it, as of seq `asOf`: its text, edit
 * time, deletion, reactions and files. A message not held yet is taken as it is.
 */
export function takeState(held, fresh, asOf) {
  const target = held ?? fresh;
  if (held && held !== fresh) {
    if ((held.stateSeq ?? held.seq) > asOf) return held;
    for (const field of ['text', 'edited', 'deleted', 'reactions', 'files']) {
      if (field in fresh) held[field] = fresh[field];
      else delete held[field];
    }
  }
  // A deleted message has no text on the wire; the page's code can count on a string.
  if (typeof target.text !== 'string') target.text = '';
  target.stateSeq = Math.max(asOf, target.seq);
  return target;
}

/**
 * Applies `change` to `target` (both held messages), in place. Returns whether it changed
 * anything: a change the target's state already reflects, a change to a change, or an edit or
 * reaction to a deleted message does nothing.
 */
export function applyChange(target, change) {
  if (!target || isChange(target) || !isChange(change)) return false;
  if ((target.stateSeq ?? target.seq) >= change.seq) return false;
  target.stateSeq = change.seq;
  if (target.deleted) return false;
  switch (change.kind) {
    case 'edit':
      if (typeof change.text !== 'string') return false;
      target.text = change.text;
      target.edited = change.ts;
      return true;
    case 'delete':
      target.deleted = true;
      target.text = '';
      delete target.edited;
      delete target.files;
      delete target.reactions;
      return true;
    case 'react':
      target.reactions = toggled(target.reactions, change.emoji, change.from?.id, change.active === true);
      return true;
    default:
      return false;
  }
}

/**
 * `reactions` ([{ emoji, users }], in the order the emoji were first added) with `user`'s
 * `emoji` added or removed. An emoji nobody has any more goes; a new one goes last.
 */
export function toggled(reactions, emoji, user, active) {
  const list = (Array.isArray(reactions) ? reactions : []).map((r) => ({ emoji: r.emoji, users: [...(r.users ?? [])] }));
  if (typeof emoji !== 'string' || typeof user !== 'string') return list;
  let entry = list.find((r) => r.emoji === emoji);
  if (active && !entry) {
    entry = { emoji, users: [] };
    list.push(entry);
  }
  if (!entry) return list;
  const has = entry.users.includes(user);
  if (active && !has) entry.users.push(user);
  if (!active && has) entry.users = entry.users.filter((u) => u !== user);
  return list.filter((r) => r.users.length > 0);
}

/**
 * How a message looks while the user's own changes to it wait in the outbox (not yet echoed):
 * the latest pending edit's text, "deleting", and pending reactions toggled. `entries` are the
 * outbox entries of its room; `me` the user's id. Returns a new object; the message is kept.
 */
export function withPending(message, entries, me) {
  const mine = entries.filter((e) => e.target === message.seq && isChange({ kind: e.type }));
  if (!mine.length) return { ...message, pending: null };
  const view = { ...message, pending: null };
  for (const entry of mine) {
    if (entry.type === 'delete') view.pending = 'delete';
    else if (entry.type === 'edit') {
      view.text = entry.text;
      if (view.pending !== 'delete') view.pending = 'edit';
    } else if (entry.type === 'react' && me) {
      view.reactions = toggled(view.reactions, entry.emoji, me, entry.active);
    }
  }
  return view;
}

/** Whether `emoji` is something the server takes as a reaction: 1–32 bytes, no whitespace. */
export function validEmoji(emoji) {
  if (typeof emoji !== 'string' || !emoji || /\s/u.test(emoji)) return false;
  return new TextEncoder().encode(emoji).length <= MAX_EMOJI_BYTES;
}

/** The last message of `messages` (in seq order) that `me` may still edit, or null. */
export function lastEditable(messages, me) {
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const m = messages[i];
    if (!isChange(m) && !m.deleted && m.from?.id === me) return m;
  }
  return null;
}
