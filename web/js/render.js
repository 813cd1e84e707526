// The page around the messages: room list with unread counts, room header, connection status,
// members, typing line. Each function makes its part of the DOM match the store; elements are
// reused by key so focus stays where the user put it.

import { avatar, el } from './dom.js';

/** The sidebar's room list: a button per room (unread badge) and a leave button. */
export function renderRoomList(list, store) {
  const existing = new Map([...list.children].map((li) => [li.dataset.room, li]));
  let cursor = list.firstElementChild;
  for (const room of store.rooms.values()) {
    let li = existing.get(room.name);
    existing.delete(room.name);
    if (!li) li = roomItem(room.name);
    const active = room.name === store.active;
    li.classList.toggle('active', active);
    const open = li.querySelector('.room-open');
    if (active) open.setAttribute('aria-current', 'true');
    else open.removeAttribute('aria-current');
    // The count is read with the name ("random 2 unread"): visible text, no aria-label.
    const unread = room.unread;
    const badge = li.querySelector('.badge');
    badge.hidden = unread === 0;
    const count = unread > 99 ? '99+' : String(unread);
    li.querySelector('.badge-count').textContent = room.mentions ? `@ ${count}` : count;
    li.querySelector('.badge-label').textContent = room.mentions
      ? ` unread, ${room.mentions} ${room.mentions === 1 ? 'mention' : 'mentions'}`
      : ' unread';
    badge.classList.toggle('badge-mention', room.mentions > 0);
    li.classList.toggle('has-unread', unread > 0);
    if (li !== cursor) list.insertBefore(li, cursor);
    else cursor = cursor.nextElementSibling;
  }
  for (const li of existing.values()) li.remove();
}

function roomItem(name) {
  const li = el('li', 'room');
  li.dataset.room = name;
  const open = el('button', 'room-open');
  open.type = 'button';
  open.dataset.room = name;
  const hash = el('span', 'room-hash', '#');
  hash.setAttribute('aria-hidden', 'true');
  const label = el('span', 'room-name', name);
  const badge = el('span', 'badge');
  badge.append(el('span', 'badge-count'), el('span', 'visually-hidden badge-label', ' unread'));
  open.append(hash, label, badge);
  const leave = el('button', 'room-leave icon-button');
  leave.type = 'button';
  leave.dataset.leave = name;
  leave.setAttribute('aria-label', `Leave ${name}`);
  leave.title = `Leave #${name}`;
  leave.textContent = '×';
  li.append(open, leave);
  return li;
}

/** Title, member count and composer placeholder of the room in view. */
export function renderRoomHeader(els, store) {
  const room = store.current();
  document.body.classList.toggle('no-room', !room);
  els.empty.hidden = Boolean(room);
  els.scroller.hidden = !room;
  els.roomName.textContent = room ? room.name : 'No room';
  const count = room ? membersOf(room, store).length : 0;
  let meta = 'Join a room to start chatting';
  if (room && !store.online) meta = store.me ? 'Not connected: showing what you have seen' : 'Connecting…';
  else if (room && !room.joined) meta = 'Joining…';
  else if (room) meta = `${count} ${count === 1 ? 'member' : 'members'} online`;
  els.roomMeta.textContent = meta;
  // Who was here when the connection dropped may no longer be: shown dimmed until it is back.
  els.members.classList.toggle('stale', Boolean(room) && !room.joined);
  els.membersCount.textContent = String(count);
  els.membersButton.setAttribute('aria-label', `Members in this room: ${count}`);
  const placeholder = room ? `Message #${room.name}` : 'Join a room first';
  if (els.input.placeholder !== placeholder) {
    els.input.placeholder = placeholder;
    els.inputLabel.textContent = room ? `Message to #${room.name}` : 'Message';
  }
  els.input.disabled = !room;
  els.sendButton.disabled = !room;
}

/**
 * Who is in `room`, the user first, then by name: the one list behind both the member count
 * and the member list, so they always agree.
 */
export function membersOf(room, store) {
  const members = [...room.members.values()];
  const meId = store.me?.id;
  return members.sort((a, b) =>
    a.id === meId ? -1 : b.id === meId ? 1 : a.name.localeCompare(b.name, undefined, { sensitivity: 'base' }),
  );
}

const STATE_TEXT = {
  connecting: 'Connecting…',
  online: 'Online',
  reconnecting: 'Reconnecting…',
};

/** The connection pill (always visible) and the offline banner above the composer. */
export function renderStatus(els, state, detail, now = Date.now()) {
  els.status.dataset.state = state;
  let text = STATE_TEXT[state] ?? state;
  const waiting = detail?.retryAt && detail.retryAt > now;
  if (state === 'reconnecting' && waiting) {
    text = `Reconnecting in ${Math.ceil((detail.retryAt - now) / 1000)} s`;
  }
  if (els.statusText.textContent !== text) els.statusText.textContent = text;
  els.retry.hidden = !(state !== 'online' && waiting);
  // The banner is for a lost or failing connection, not for the first second of a visit.
  els.offline.hidden = state === 'online' || (state === 'connecting' && !(detail?.attempt > 0));
}

/** Who is in the room, the user first. */
export function renderMembers(list, title, store) {
  const room = store.current();
  const members = room ? membersOf(room, store) : [];
  const meId = store.me?.id;
  title.textContent = room ? `In #${room.name} — ${members.length}` : 'Members';
  const key = members.map((m) => `${m.id}:${m.name}`).join('\n') + `|${meId}`;
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(
    ...members.map((member) => {
      const li = el('li', 'member');
      li.append(avatar(member.name, 'small', member.id), el('span', 'member-name', member.name));
      if (member.id === meId) li.append(el('span', 'member-you', 'you'));
      return li;
    }),
  );
}

/** "alice is typing…" for the room in view. */
export function renderTyping(node, users) {
  let text = '';
  if (users.length === 1) text = `${users[0].name} is typing…`;
  else if (users.length === 2) text = `${users[0].name} and ${users[1].name} are typing…`;
  else if (users.length > 2) text = 'Several people are typing…';
  if (node.dataset.text === text) return;
  node.dataset.text = text;
  node.replaceChildren();
  if (text) {
    const dots = el('span', 'typing-dots');
    dots.setAttribute('aria-hidden', 'true');
    dots.append(el('span'), el('span'), el('span'));
    node.append(dots, el('span', 'typing-text', text));
  }
}

/** The user's own name in the sidebar. */
export function renderMe(els, store) {
  const name = store.me?.name ?? store.name ?? '';
  const key = `${name}|${store.me?.id ?? ''}`;
  if (els.meAvatar.dataset.key !== key) {
    els.meName.textContent = name;
    els.meAvatar.replaceWith((els.meAvatar = avatar(name || '?', 'me-avatar', store.me?.id)));
    els.meAvatar.dataset.key = key;
  }
}
