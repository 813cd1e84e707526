// Small DOM builders shared by the views. User text only ever enters the page through
// textContent (or as a link's href after safeHref): never innerHTML.

import { linkParts } from './sync.js';

/** An element with a class and, optionally, text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** `text` as text nodes, with http(s) URLs as links that open in a new tab without an opener. */
export function richText(text) {
  const fragment = document.createDocumentFragment();
  for (const part of linkParts(text)) {
    if (!part.href) {
      fragment.append(document.createTextNode(part.text));
      continue;
    }
    const link = document.createElement('a');
    link.href = part.href;
    link.textContent = part.text;
    link.target = '_blank';
    link.rel = 'noopener noreferrer nofollow';
    fragment.append(link);
  }
  return fragment;
}

/** Number of avatar colours defined in style.css (.hue-0 … .hue-11). */
const HUES = 12;

/** A stable colour class for a name. */
export function hueClass(name) {
  let hash = 0;
  for (const ch of String(name)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `hue-${hash % HUES}`;
}

/** A round avatar with the name's first letter, hidden from screen readers (the name is read). */
export function avatar(name, extra = '') {
  const node = el('span', `avatar ${hueClass(name)} ${extra}`.trim());
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
