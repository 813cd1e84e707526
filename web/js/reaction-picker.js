// The reaction picker: a dialog with a few common emoji and a field for any other. Picking
// one the user already chose takes it back; Esc closes. Focus returns to the message.

import { validEmoji } from './changes.js';

/** The emoji offered first. */
export const COMMON_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢', '👀', '🙏'];

export class ReactionPicker {
  /**
   * @param {HTMLDialogElement} dialog #reaction-picker, holding .reaction-choices and a form
   * @param {object} hooks pick(seq, emoji), closed(seq)
   */
  constructor(dialog, hooks) {
    this.dialog = dialog;
    this.hooks = hooks;
    this.seq = null;
    this.choices = dialog.querySelector('.reaction-choices');
    this.form = dialog.querySelector('form');
    this.input = dialog.querySelector('input');
    this.error = dialog.querySelector('.field-error');
    this.choices.replaceChildren(
      ...COMMON_EMOJI.map((emoji) => {
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'reaction-choice';
        button.dataset.emoji = emoji;
        button.textContent = emoji;
        return button;
      }),
    );
    this.choices.addEventListener('click', (event) => {
      const choice = event.target.closest('[data-emoji]');
      if (choice) this.#pick(choice.dataset.emoji);
    });
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      const emoji = this.input.value.trim();
      if (!validEmoji(emoji)) {
        this.#showError('One emoji (or a short word) without spaces, at most 32 bytes.');
        return;
      }
      this.#pick(emoji);
    });
    this.input.addEventListener('input', () => this.#showError(''));
    dialog.querySelector('.picker-close').addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      const seq = this.seq;
      this.seq = null;
      if (seq !== null) this.hooks.closed(seq);
    });
    // A click on the backdrop (outside the box) closes it.
    dialog.addEventListener('click', (event) => {
      if (event.target === dialog) dialog.close();
    });
  }

  get open() {
    return this.dialog.open;
  }

  /** Opens for the message at `seq`; `mine` are the emoji the user already chose on it. */
  show(seq, mine) {
    this.seq = seq;
    this.input.value = '';
    this.#showError('');
    for (const button of this.choices.children) {
      button.setAttribute('aria-pressed', String(mine.includes(button.dataset.emoji)));
      button.setAttribute('aria-label', `${button.dataset.emoji}${mine.includes(button.dataset.emoji) ? ' (remove yours)' : ''}`);
    }
    if (!this.dialog.open) this.dialog.showModal();
    this.choices.firstElementChild.focus();
  }

  #pick(emoji) {
    const seq = this.seq;
    this.hooks.pick(seq, emoji);
    this.dialog.close();
  }

  #showError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
    this.input.setAttribute('aria-invalid', text ? 'true' : 'false');
  }
}
