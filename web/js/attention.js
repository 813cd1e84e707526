// What a tab shows while it sits among others: the unread count in the title ("(3) #general ·
// Chat", "@" first when someone mentioned the user) and a badge on the favicon.

const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#6366f1"/><stop offset="1" stop-color="#8b5cf6"/></linearGradient></defs><rect width="64" height="64" rx="16" fill="url(#g)"/><path fill="#fff" d="M18 17h28a6 6 0 0 1 6 6v15a6 6 0 0 1-6 6H31l-9 7.5V44h-4a6 6 0 0 1-6-6V23a6 6 0 0 1 6-6z"/>`;

/** The favicon with `label` (a count, or "@") on a red disc. */
function badgeIcon(label) {
  const size = label.length > 2 ? 19 : label.length > 1 ? 22 : 26;
  const svg = `${ICON}<circle cx="46" cy="46" r="18" fill="#dc2626" stroke="#fff" stroke-width="3"/><text x="46" y="47" fill="#fff" font-family="Arial,sans-serif" font-weight="700" font-size="${size}" text-anchor="middle" dominant-baseline="central">${label}</text></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

export class Attention {
  constructor() {
    this.icon = document.querySelector('link[rel="icon"]');
    this.plainIcon = this.icon?.getAttribute('href') ?? 'favicon.svg';
    this.shown = null;
  }

  /** Shows `unread` (and whether any is a mention) for a page titled `title`. */
  show(title, { unread, mentions }) {
    const count = unread > 99 ? '99+' : String(unread);
    const text = unread ? `(${mentions ? '@' : ''}${count}) ${title}` : title;
    if (document.title !== text) document.title = text;
    const label = unread ? (mentions ? '@' : count) : '';
    if (label === this.shown || !this.icon) return;
    this.shown = label;
    this.icon.setAttribute('href', label ? badgeIcon(label) : this.plainIcon);
    this.icon.dataset.badge = label;
  }
}
