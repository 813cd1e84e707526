// The composer's @mention completion: typing `@al` lists the room's members whose names match;
// ↑/↓ choose, Tab or Enter insert `@alice `, Esc closes. The list is a listbox that the
// textarea points at (aria-activedescendant), so screen readers follow the choice.

import { avatar, el } from './dom.js';
import { completeMention, mentionQuery } from './mentions.js';

export class MentionPicker {
  /**
   * @param {HTMLTextAreaElement} input the composer
   * @param {HTMLUListElement} list the listbox
   * @param {() => {id: string, name: string}[]} members who can be mentioned now
   */
  constructor(input, list, members) {
    this.input = input;
    this.list = list;
    this.members = members;
    this.names = [];
    this.index = 0;
    this.query = null;
    list.addEventListener('mousedown', (event) => event.preventDefault());
    list.addEventListener('click', (event) => {
      const option = event.target.closest('[role="option"]');
      if (option) this.#pick(Number(option.dataset.index));
    });
    input.addEventListener('blur', () => this.close());
  }

  get open() {
    return !this.list.hidden;
  }

  /** Re-reads the text around the caret (after every input). */
  update() {
    const query = mentionQuery(this.input.value, this.input.selectionStart ?? this.input.value.length);
    const names = query ? completeMention(query.query, this.members()) : [];
    if (!query || !names.length) {
      this.close();
      return;
    }
    this.query = query;
    if (names.join('\n') !== this.names.join('\n')) this.index = 0;
    this.names = names;
    this.#render();
  }

  close() {
    if (!this.open && this.query === null) return;
    this.list.hidden = true;
    this.list.replaceChildren();
    this.query = null;
    this.names = [];
    this.input.removeAttribute('aria-activedescendant');
  }

  /** Handles a key in the composer; returns true when it was the picker's. */
  key(event) {
    if (!this.open) return false;
    switch (event.key) {
      case 'ArrowDown':
        this.index = (this.index + 1) % this.names.length;
        break;
      case 'ArrowUp':
        this.index = (this.index - 1 + this.names.length) % this.names.length;
        break;
      case 'Tab':
      case 'Enter':
        if (event.shiftKey || event.isComposing) return false;
        this.#pick(this.index);
        break;
      case 'Escape':
        this.close();
        break;
      default:
        return false;
    }
    event.preventDefault();
    event.stopPropagation();
    if (this.open) this.#render();
    return true;
  }

  #pick(index) {
    const name = this.names[index];
    if (!name || !this.query) return;
    const { value } = this.input;
    const caret = this.input.selectionStart ?? value.length;
    const before = value.slice(0, this.query.start);
    const after = value.slice(caret).replace(/^ /, '');
    const inserted = `@${name} `;
    this.input.value = before + inserted + after;
    const at = before.length + inserted.length;
    this.input.setSelectionRange(at, at);
    this.close();
    this.input.dispatchEvent(new Event('input', { bubbles: true }));
  }

  #render() {
    this.list.replaceChildren(
      ...this.names.map((name, i) => {
        const option = el('li', 'mention-option');
        option.id = `mention-option-${i}`;
        option.setAttribute('role', 'option');
        option.setAttribute('aria-selected', String(i === this.index));
        option.dataset.index = String(i);
        const id = this.members().find((m) => m.name === name)?.id;
        option.append(avatar(name, 'small', id), el('span', 'mention-name', name));
        return option;
      }),
    );
    this.list.hidden = false;
    this.input.setAttribute('aria-activedescendant', `mention-option-${this.index}`);
  }
}
