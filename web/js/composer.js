// The message box: Enter sends (Shift+Enter is a new line) the text and the files uploaded for
// it, the byte counter near and over the limit (over it, by how much), @mention completion,
// "I am typing" as the text changes, and ↑ in an empty box to edit the user's last message.
// What a sent text becomes (an outbox entry, a frame) is the wiring's business.

import { MentionPicker } from './mention-picker.js';
import { utf8Length } from './sync.js';

export class Composer {
  /**
   * @param {object} els composer (form), input, counter, mentionList
   * @param {object} hooks
   * @param {() => number} hooks.maxBytes the server's max_text_bytes
   * @param {() => {id: string, name: string}[]} hooks.members who can be mentioned
   * @param {(text: string, files: object[]) => void} hooks.send a text within the limit, not
   *   blank unless files go with it
   * @param {() => void} hooks.tooLong a text over the limit was sent
   * @param {(text: string) => void} hooks.typed the text changed
   * @param {() => {ready: object[], busy: boolean}} hooks.files the files uploaded for it
   * @param {() => void} hooks.stillUploading a send while a file is still uploading
   * @param {() => boolean} hooks.editLast ↑ in the empty box: edit the last message (if any)
   */
  constructor(els, hooks) {
    this.els = els;
    this.hooks = hooks;
    this.picker = new MentionPicker(els.input, els.mentionList, hooks.members);
    els.composer.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#send();
      els.input.focus();
    });
    els.input.addEventListener('keydown', (event) => {
      if (this.picker.key(event)) return;
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.#send();
      } else if (event.key === 'ArrowUp' && !els.input.value && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey) {
        if (hooks.editLast()) event.preventDefault();
      }
    });
    els.input.addEventListener('input', () => {
      this.updateCounter();
      this.picker.update();
      hooks.typed(els.input.value);
    });
  }

  /** Closes the mention list; returns whether it was open. */
  closeMenus() {
    const open = this.picker.open;
    this.picker.close();
    return open;
  }

  updateCounter() {
    const { counter, input } = this.els;
    const max = this.hooks.maxBytes();
    const used = utf8Length(input.value);
    const over = used > max;
    counter.hidden = used <= max * 0.8;
    // Over the limit it says by how much, so the user knows what to cut.
    counter.textContent = over ? `−${used - max}` : `${max - used}`;
    counter.classList.toggle('over', over);
    counter.title = over ? `${used - max} bytes over the limit` : `${max - used} bytes left`;
  }

  #send() {
    const typed = this.els.input.value;
    const { ready, busy } = this.hooks.files();
    if (busy) {
      this.hooks.stillUploading();
      return;
    }
    if (!typed.trim() && !ready.length) return;
    // A message with files may have no text; blank text is none.
    const text = typed.trim() ? typed : '';
    if (utf8Length(text) > this.hooks.maxBytes()) {
      this.hooks.tooLong();
      return;
    }
    this.hooks.send(text, ready);
    this.els.input.value = '';
    this.updateCounter();
  }
}
