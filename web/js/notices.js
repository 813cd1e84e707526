// Readable notices (server errors, recovery warnings) and the screen-reader announcer. Both
// write text with textContent only.

const ERROR_TEXT = {
  rate_limited: () => 'You are sending messages too fast. Slow down a little; your message will be sent again.',
  too_large: (limits) => `That message is too long (at most ${limits.max_text_bytes} bytes).`,
  too_many_rooms: (limits) => `You can be in at most ${limits.max_rooms} rooms. Leave one to join another.`,
  bad_room: () => 'Room names use letters, digits, "-", "_" and "." (up to 64 characters).',
  forbidden: () => 'Your sign-in does not give access to that room.',
  not_joined: () => 'You were not in that room any more; joining it again.',
  internal: () => 'The server had a problem storing that. It will be tried again.',
  bad_json: () => 'The server could not read a request from this page.',
  bad_request: () => 'The server refused a request from this page.',
  unknown_type: () => 'The server does not know a request this page sent.',
  unsupported: () => 'The server does not support a request this page sent.',
};

/** A person-readable sentence for a server `error` frame. */
export function describeError(code, message, limits) {
  const text = ERROR_TEXT[code];
  return text ? text(limits) : message || `The server reported an error (${code}).`;
}

/** Why a change (edit, delete, react) was refused, by its type and the error's code. */
const CHANGE_TEXT = {
  forbidden: {
    edit: 'You can only edit your own messages (without sign-in, those sent since you last connected).',
    delete: 'You can only delete your own messages (without sign-in, those sent since you last connected).',
    react: 'You cannot react in that room.',
  },
  not_found: {
    edit: 'That message cannot be edited any more: it was deleted.',
    delete: 'That message was already deleted.',
    react: 'That message cannot get reactions any more: it was deleted.',
  },
  bad_request: {
    edit: 'The server did not accept that edit.',
    delete: 'The server did not accept that deletion.',
    react: 'That reaction was not accepted (a message holds at most 20 different emoji).',
  },
  too_large: {
    edit: 'That edit is too long.',
  },
};

/** A person-readable sentence for an `error` answering a change of type `change`. */
export function describeChangeError(change, code, message, limits) {
  return CHANGE_TEXT[code]?.[change] ?? describeError(code, message, limits);
}

/** How long a notice stays before it dismisses itself. */
const NOTICE_MS = 8000;
/** At most this many notices at once; the oldest go first. */
const MAX_NOTICES = 3;

export class Notices {
  constructor(container, announcer) {
    this.container = container;
    this.announcer = announcer;
  }

  /**
   * Shows a notice. A notice with a `key` replaces an earlier one with the same key, so a
   * burst of identical errors shows once.
   */
  show(text, { level = 'error', key = text, sticky = false } = {}) {
    for (const old of this.container.querySelectorAll('.notice')) {
      if (old.dataset.key === key) old.remove();
    }
    const notice = document.createElement('div');
    notice.className = `notice notice-${level}`;
    notice.dataset.key = key;
    const body = document.createElement('p');
    body.className = 'notice-text';
    body.textContent = text;
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'notice-close';
    close.setAttribute('aria-label', 'Dismiss notice');
    close.textContent = '×';
    close.addEventListener('click', () => notice.remove());
    notice.append(body, close);
    this.container.append(notice);
    while (this.container.children.length > MAX_NOTICES) this.container.firstElementChild.remove();
    if (!sticky) setTimeout(() => notice.remove(), NOTICE_MS);
    return notice;
  }

  /** Says `text` to screen readers (the visible page shows it its own way). */
  announce(text) {
    // A fresh node per announcement makes repeated identical texts be read again.
    const line = document.createElement('p');
    line.textContent = text;
    this.announcer.append(line);
    while (this.announcer.children.length > 5) this.announcer.firstElementChild.remove();
  }
}
