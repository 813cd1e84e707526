// Editing a message in place: its text becomes a text box in the bubble. Enter saves,
// Shift+Enter is a new line, Esc cancels; either way focus goes back to the message. An
// unchanged text saves nothing; an empty one or one over the limit is refused in words.

import { el } from './dom.js';
import { utf8Length } from './sync.js';

export class MessageEditor {
  /**
   * @param {object} hooks save(seq, text), maxBytes(), done(seq) (the editor closed)
   */
  constructor(hooks) {
    this.hooks = hooks;
    /** The seq of the message being edited, or null. */
    this.seq = null;
    this.row = null;
    this.box = null;
    this.original = '';
  }

  /** Opens the editor on `row` (the message at `seq`, whose text is `text`). */
  open(row, seq, text) {
    if (this.seq !== null) this.cancel({ refocus: false });
    this.seq = seq;
    this.row = row;
    this.original = text;
    row.classList.add('editing');
    const form = el('div', 'msg-editor');
    const id = `edit-${seq}`;
    const label = el('label', 'visually-hidden', 'Edit message');
    label.htmlFor = id;
    const input = el('textarea', 'msg-edit-input');
    input.id = id;
    input.value = text;
    input.rows = Math.min(8, Math.max(1, text.split('\n').length));
    input.setAttribute('aria-describedby', `${id}-hint`);
    const hint = el('p', 'msg-edit-hint', 'Enter to save · Esc to cancel');
    hint.id = `${id}-hint`;
    hint.setAttribute('aria-live', 'polite');
    const buttons = el('div', 'msg-edit-buttons');
    const cancel = el('button', 'button secondary small', 'Cancel');
    cancel.type = 'button';
    const save = el('button', 'button primary small', 'Save');
    save.type = 'button';
    buttons.append(cancel, save);
    form.append(label, input, hint, buttons);
    row.querySelector('.msg-bubble').after(form);
    this.box = form;
    input.addEventListener('keydown', (event) => {
      // Keys typed here are the text's, not the message's shortcuts.
      event.stopPropagation();
      if (event.key === 'Escape') {
        event.preventDefault();
        this.cancel();
      } else if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.save();
      }
    });
    cancel.addEventListener('click', () => this.cancel());
    save.addEventListener('click', () => this.save());
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  save() {
    if (this.seq === null) return;
    const text = this.box.querySelector('textarea').value;
    const hint = this.box.querySelector('.msg-edit-hint');
    if (!text.trim()) {
      hint.textContent = 'A message cannot be empty: Esc to cancel, or delete the message instead.';
      return;
    }
    const over = utf8Length(text) - this.hooks.maxBytes();
    if (over > 0) {
      hint.textContent = `Too long by ${over} bytes.`;
      return;
    }
    const seq = this.seq;
    if (text !== this.original) this.hooks.save(seq, text);
    this.#close();
    this.hooks.done(seq);
  }

  /** Closes without saving; focus goes back to the message unless `refocus` is false. */
  cancel({ refocus = true } = {}) {
    if (this.seq === null) return;
    const seq = this.seq;
    this.#close();
    if (refocus) this.hooks.done(seq);
  }

  #close() {
    this.box?.remove();
    this.row?.classList.remove('editing');
    this.seq = null;
    this.row = null;
    this.box = null;
  }
}
