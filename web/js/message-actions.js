// How a message's actions are reached: its action bar's buttons (shown on hover, on focus
// within the message, or after a long press on a touch screen), its reaction chips, its
// thumbnails, and keys on a focused message (E edit, Delete delete, R react; ↑/↓, Home and End
// move between messages, one of which is in the Tab order at a time). What each action does
// is the hooks' business.

/** A touch held this long opens a message's actions. */
const LONG_PRESS_MS = 500;

export class MessageActions {
  /**
   * @param {HTMLOListElement} list the timeline
   * @param {object} hooks edit(seq), remove(seq), pickReaction(seq), react(seq, emoji, active),
   *   openImage(href, name)
   */
  constructor(list, hooks) {
    this.list = list;
    this.hooks = hooks;
    list.addEventListener('click', (event) => this.#click(event));
    list.addEventListener('keydown', (event) => this.#key(event));
    list.addEventListener('focusin', (event) => {
      const row = event.target.closest?.('.msg[data-seq]');
      if (row) this.#rove(row);
    });
    this.#longPress();
  }

  /** Makes `row` the one message in the Tab order. */
  #rove(row) {
    for (const other of this.list.querySelectorAll('.msg[data-seq][tabindex="0"]')) {
      if (other !== row) other.tabIndex = -1;
    }
    row.tabIndex = 0;
  }

  #click(event) {
    const row = event.target.closest('.msg[data-seq]');
    if (!row) return;
    const seq = Number(row.dataset.seq);
    const image = event.target.closest('.file-image');
    if (image && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) {
      event.preventDefault();
      this.hooks.openImage(image.href, image.dataset.fileName);
      return;
    }
    const chip = event.target.closest('.reaction');
    if (chip) {
      this.hooks.react(seq, chip.dataset.emoji, chip.getAttribute('aria-pressed') !== 'true');
      return;
    }
    const action = event.target.closest('[data-action]')?.dataset.action;
    if (action) {
      row.classList.remove('actions-open');
      this.#act(action, seq);
    }
  }

  #act(action, seq) {
    if (action === 'edit') this.hooks.edit(seq);
    else if (action === 'delete') this.hooks.remove(seq);
    else if (action === 'react') this.hooks.pickReaction(seq);
  }

  /** Keys on a focused message: E edit, Delete delete, R react, ↑/↓/Home/End move. */
  #key(event) {
    const row = event.target;
    if (!row.matches?.('.msg[data-seq]') || event.ctrlKey || event.metaKey || event.altKey) return;
    const seq = Number(row.dataset.seq);
    const actions = (row.getAttribute('aria-keyshortcuts') ?? '').split(' ');
    const rows = [...this.list.querySelectorAll('.msg[data-seq]')];
    const at = rows.indexOf(row);
    let target = null;
    switch (event.key) {
      case 'ArrowUp':
        target = rows[at - 1];
        break;
      case 'ArrowDown':
        target = rows[at + 1];
        break;
      case 'Home':
        target = rows[0];
        break;
      case 'End':
        target = rows.at(-1);
        break;
      case 'e':
      case 'E':
        if (!actions.includes('E')) return;
        this.#act('edit', seq);
        break;
      case 'Delete':
        if (!actions.includes('Delete')) return;
        this.#act('delete', seq);
        break;
      case 'r':
      case 'R':
        if (!actions.includes('R')) return;
        this.#act('react', seq);
        break;
      default:
        return;
    }
    event.preventDefault();
    if (target) {
      target.focus();
      target.scrollIntoView({ block: 'nearest' });
    }
  }

  /** A touch held still on a message opens its action bar; a touch elsewhere closes it. */
  #longPress() {
    let timer = null;
    let opened = false;
    const clear = () => {
      clearTimeout(timer);
      timer = null;
    };
    this.list.addEventListener('pointerdown', (event) => {
      const row = event.target.closest('.msg[data-seq]');
      for (const open of this.list.querySelectorAll('.msg.actions-open')) {
        if (open !== row) open.classList.remove('actions-open');
      }
      if (event.pointerType !== 'touch' || !row || event.target.closest('button, a, textarea')) return;
      clear();
      opened = false;
      timer = setTimeout(() => {
        if (!row.querySelector('.msg-actions')) return;
        opened = true;
        row.classList.add('actions-open');
      }, LONG_PRESS_MS);
    });
    for (const type of ['pointerup', 'pointercancel', 'pointermove']) {
      this.list.addEventListener(type, (event) => {
        // A finger trembles a little; only a real move (a scroll) cancels the press.
        if (type === 'pointermove' && Math.abs(event.movementX) + Math.abs(event.movementY) < 6) return;
        clear();
      });
    }
    // The browser's own long-press menu would cover the actions.
    this.list.addEventListener('contextmenu', (event) => {
      if (opened) event.preventDefault();
      opened = false;
    });
  }
}
