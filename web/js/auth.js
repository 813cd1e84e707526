// Sign-in with a link, when the server requires it (auth.mode = "jwt"). The operator's own
// login sends the user to the chat with `#token=<JWT>`: this module takes the token from the
// fragment as soon as the page loads (before anything reads the fragment as a room name),
// keeps it in sessionStorage (this tab only), removes it from the address bar, and asks the
// server (`GET /session`) who it signs in as. Without a token, or when the server refuses it
// (401) or closes the connection with 4001 (token expired), a screen says that a sign-in link
// is needed. With sign-in off, nothing here changes the page.

const STORAGE_KEY = 'chat.token';
/** The close code of a connection whose token expired. */
const TOKEN_EXPIRED = 4001;

const REASONS = {
  missing: 'This chat needs a sign-in link. Open the link you were given to sign in.',
  expired: 'Your sign-in has expired. Open a new sign-in link to continue.',
  invalid: 'This sign-in link is not valid. Ask for a new one.',
  algorithm: 'This sign-in link is not valid. Ask for a new one.',
};

/** Takes `#token=…` out of the address bar; returns it, or the one this tab kept. */
function takeToken() {
  const fragment = location.hash.slice(1);
  if (fragment.startsWith('token=')) {
    const token = decodeURIComponent(fragment.slice('token='.length));
    // Out of the address bar and out of the history, so it is not shared by copying the URL.
    history.replaceState(null, '', location.pathname + location.search);
    try {
      sessionStorage.setItem(STORAGE_KEY, token);
    } catch {
      // Storage off: the token lives as long as the page.
    }
    return token;
  }
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function forgetToken() {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Storage off: nothing kept.
  }
}

/** Shows the sign-in screen for `reason` (a key of REASONS); it stays. */
function showSignInNeeded(reason) {
  let dialog = document.getElementById('signin-dialog');
  if (!dialog) {
    dialog = document.createElement('dialog');
    dialog.id = 'signin-dialog';
    dialog.className = 'name-dialog';
    dialog.setAttribute('aria-labelledby', 'signin-title');
    dialog.setAttribute('aria-describedby', 'signin-help');
    const title = document.createElement('h2');
    title.id = 'signin-title';
    title.textContent = 'Sign-in needed';
    const help = document.createElement('p');
    help.id = 'signin-help';
    help.className = 'dialog-help';
    dialog.append(title, help);
    // Nothing to go back to: Escape does not close it.
    dialog.addEventListener('cancel', (event) => event.preventDefault());
    document.body.append(dialog);
  }
  dialog.querySelector('#signin-help').textContent = REASONS[reason] ?? REASONS.invalid;
  if (!dialog.open) dialog.showModal();
}

// At load, before app.js reads the fragment.
const token = takeToken();

export const auth = {
  /** 'none' or 'jwt', once `start` has asked the server. */
  mode: 'none',
  /** Who the token signs in as ({id, name}), with sign-in on. */
  user: null,

  /**
   * Asks the server whether sign-in is on and who the token is. Resolves to true when the
   * page may go on (with `user` set when signed in), false when the sign-in screen is shown.
   */
  async start() {
    let response;
    let body;
    try {
      response = await fetch('/session', {
        headers: token ? { Authorization: `Bearer ${token}` } : {},
        cache: 'no-store',
      });
      body = await response.json();
    } catch {
      // Server unreachable: with a token, connect and let the retries and `closed` decide.
      this.mode = token ? 'jwt' : 'none';
      return true;
    }
    this.mode = body?.auth === 'jwt' ? 'jwt' : 'none';
    if (this.mode === 'none') return true;
    if (response.ok && body.user) {
      this.user = body.user;
      return true;
    }
    if (token) forgetToken();
    showSignInNeeded(token ? body.error : 'missing');
    return false;
  },

  /** What the WebSocket URL carries besides the name. */
  query() {
    return this.mode === 'jwt' && token ? `&token=${encodeURIComponent(token)}` : '';
  },

  /**
   * A socket closed. Resolves to true when the page must stop: the token expired (4001), or a
   * socket cut without a close frame (an upgrade refused with 401 looks like that) is
   * explained by a refused token (401 from `/session`).
   */
  async closed(event) {
    if (this.mode !== 'jwt') return false;
    if (event.code === TOKEN_EXPIRED) {
      forgetToken();
      showSignInNeeded('expired');
      return true;
    }
    if (event.code !== 1006) return false;
    try {
      const response = await fetch('/session', {
        headers: token ? { Authorization: `Bearer ${token}` } : {},
        cache: 'no-store',
      });
      if (response.status !== 401) return false;
      const body = await response.json();
      forgetToken();
      showSignInNeeded(body.error);
      return true;
    } catch {
      return false;
    }
  },
};
