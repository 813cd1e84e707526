// Small DOM builders shared by the views. User text only ever enters the page through
// textContent or text nodes (markdown.js builds messages the same way): never innerHTML.

/** An element with a class and, optionally, text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * An avatar's hue (0–359) and lightness step (0–2) from a user's id (or name when there is
 * none): two people rarely share a colour, and a person keeps theirs across renames.
 */
export function avatarTone(key) {
  let hash = 2166136261;
  for (const ch of String(key)) hash = Math.imul(hash ^ ch.codePointAt(0), 16777619) >>> 0;
  return { hue: hash % 360, shade: Math.floor(hash / 360) % 3 };
}

/**
 * A round avatar with the name's first letter, hidden from screen readers (the name is read).
 * Its colour comes from `id` when given, else from the name.
 */
export function avatar(name, extra = '', id = undefined) {
  const node = el('span', `avatar ${extra}`.trim());
  const { hue, shade } = avatarTone(id ?? name);
  // Set through the CSSOM, which the page's Content-Security-Policy allows (a style
  // attribute in markup it would not).
  node.style.setProperty('--avatar-hue', String(hue));
  node.dataset.shade = String(shade);
  node.setAttribute('aria-hidden', 'true');
  node.textContent = ([...String(name).trim()][0] ?? '?').toUpperCase();
  return node;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });

/** A <time> element showing hh:mm, with the full date on hover and in `datetime`. */
export function timeElement(ts, className = 'time') {
  const node = el('time', className, timeFormat.format(ts));
  const date = new Date(ts);
  node.dateTime = date.toISOString();
  node.title = fullFormat.format(date);
  return node;
}

/** The local calendar day of a timestamp, as a comparable key. */
export function dayKey(ts) {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/** "Today", "Yesterday" or the date, for day dividers. */
export function dayLabel(ts, now = Date.now()) {
  if (dayKey(ts) === dayKey(now)) return 'Today';
  if (dayKey(ts) === dayKey(now - 86400000)) return 'Yesterday';
  return dayFormat.format(ts);
}
