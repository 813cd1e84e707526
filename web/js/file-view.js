// A message's files as elements: an image as a thumbnail (its `thumb`, else the file itself)
// that opens full size, any other file as a card with its name, size and a download link.
// Names and types are only ever text; a URL is used only when it is http(s) or on this server.

import { el } from './dom.js';

/** Images the page shows inline (the types the server serves inline too). */
const INLINE_IMAGES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
/** The longest side of a thumbnail as shown. */
const THUMB_PX = 320;

/** `bytes` for people: "512 B", "1.5 KB", "10 MB". */
export function humanSize(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n) || n < 0) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1).replace(/\.0$/, '') : Math.round(value)} ${units[unit]}`;
}

/** A URL from the server, as an absolute http(s) URL; null for anything else (javascript:…). */
export function fileHref(url) {
  if (typeof url !== 'string' || !url) return null;
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}

/** The elements for `files` (the `files` of a message, or of a message being sent). */
export function renderFiles(files) {
  return files.map((file) => (isImage(file) ? imageNode(file) : cardNode(file)));
}

function isImage(file) {
  return INLINE_IMAGES.has(file.type) && fileHref(file.url) !== null;
}

/** A thumbnail, a link to the full image (which the page opens in its viewer). */
function imageNode(file) {
  const link = el('a', 'file-image');
  link.href = fileHref(file.url);
  link.target = '_blank';
  link.rel = 'noopener';
  link.dataset.fileName = String(file.name ?? '');
  link.setAttribute('aria-label', `${file.name ?? 'image'} (${humanSize(file.size)}): open full size`);
  const img = el('img');
  img.src = fileHref(file.thumb) ?? link.href;
  img.alt = String(file.name ?? 'image');
  img.loading = 'lazy';
  img.decoding = 'async';
  const { width, height } = fitted(file.width, file.height);
  if (width && height) {
    img.width = width;
    img.height = height;
  }
  link.append(img);
  return link;
}

/** Width and height scaled to fit THUMB_PX, for the layout to hold still while it loads. */
function fitted(width, height) {
  if (!(width > 0 && height > 0)) return {};
  const scale = Math.min(1, THUMB_PX / Math.max(width, height));
  return { width: Math.round(width * scale), height: Math.round(height * scale) };
}

/** Name, size and type, and a download link. */
function cardNode(file) {
  const card = el('div', 'file-card');
  const icon = el('span', 'file-icon', fileGlyph(file.type));
  icon.setAttribute('aria-hidden', 'true');
  const text = el('span', 'file-text');
  text.append(el('span', 'file-name', String(file.name ?? 'file')));
  text.append(el('span', 'file-meta', [humanSize(file.size), file.type].filter(Boolean).join(' · ')));
  card.append(icon, text);
  const href = fileHref(file.url);
  if (href) {
    const download = el('a', 'file-download', 'Download');
    download.href = href;
    download.download = String(file.name ?? '');
    download.setAttribute('aria-label', `Download ${file.name ?? 'file'}`);
    card.append(download);
  }
  return card;
}

function fileGlyph(type = '') {
  if (type.startsWith('image/')) return '🖼';
  if (type.startsWith('audio/')) return '🎵';
  if (type.startsWith('video/')) return '🎬';
  if (type === 'application/pdf') return '📄';
  if (type === 'application/zip') return '🗜';
  return '📎';
}
