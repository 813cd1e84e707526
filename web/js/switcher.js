// The room switcher (Ctrl/Cmd+K): a dialog with a filter field over the rooms in the sidebar.
// Typing filters (names that start with the text first), ↑/↓ choose, Enter opens the room, or
// joins a room of that name when none matches; Esc closes.

import { el } from './dom.js';
import { normalizeRoomName } from './sync.js';

export class Switcher {
  /**
   * @param {object} els switcher, switcherInput, switcherList
   * @param {() => {name: string, unread: number}[]} rooms the rooms, in sidebar order
   * @param {(name: string) => void} go opens (or joins) a room
   */
  constructor(els, rooms, go) {
    this.els = els;
    this.rooms = rooms;
    this.go = go;
    this.choices = [];
    this.index = 0;
    els.switcherInput.addEventListener('input', () => {
      this.index = 0;
      this.#render();
    });
    els.switcherInput.addEventListener('keydown', (event) => this.#key(event));
    els.switcherList.addEventListener('mousedown', (event) => event.preventDefault());
    els.switcherList.addEventListener('click', (event) => {
      const option = event.target.closest('[role="option"]');
      if (option) this.#choose(Number(option.dataset.index));
    });
    // A click on the backdrop (the dialog element itself, outside its box) closes it.
    els.switcher.addEventListener('click', (event) => {
      if (event.target === els.switcher) els.switcher.close();
    });
  }

  get open() {
    return this.els.switcher.open;
  }

  show() {
    if (this.open) return;
    this.els.switcherInput.value = '';
    this.index = 0;
    this.#render();
    this.els.switcher.showModal();
    this.els.switcherInput.focus();
  }

  close() {
    if (this.open) this.els.switcher.close();
  }

  #key(event) {
    const count = this.choices.length;
    if (event.key === 'ArrowDown' && count) this.index = (this.index + 1) % count;
    else if (event.key === 'ArrowUp' && count) this.index = (this.index - 1 + count) % count;
    else if (event.key === 'Enter' && !event.isComposing) this.#choose(this.index);
    else return;
    event.preventDefault();
    if (this.open) this.#render();
  }

  #choose(index) {
    const choice = this.choices[index];
    if (!choice) return;
    this.close();
    this.go(choice.name);
  }

  #render() {
    const query = this.els.switcherInput.value.trim().replace(/^#+/, '').toLowerCase();
    const rooms = this.rooms();
    const starts = rooms.filter((r) => r.name.toLowerCase().startsWith(query));
    const contains = rooms.filter((r) => !starts.includes(r) && r.name.toLowerCase().includes(query));
    this.choices = [...starts, ...contains].map((r) => ({ name: r.name, unread: r.unread, join: false }));
    const typed = normalizeRoomName(query);
    if (typed && !rooms.some((r) => r.name.toLowerCase() === typed.toLowerCase())) {
      this.choices.push({ name: normalizeRoomName(this.els.switcherInput.value), unread: 0, join: true });
    }
    if (this.index >= this.choices.length) this.index = 0;
    this.els.switcherList.replaceChildren(
      ...this.choices.map((choice, i) => {
        const option = el('li', 'switcher-option');
        option.id = `switcher-option-${i}`;
        option.setAttribute('role', 'option');
        option.setAttribute('aria-selected', String(i === this.index));
        option.dataset.index = String(i);
        option.append(el('span', 'switcher-name', choice.join ? `Join #${choice.name}` : `#${choice.name}`));
        if (choice.unread) option.append(el('span', 'badge', `${choice.unread} unread`));
        return option;
      }),
    );
    if (!this.choices.length) this.els.switcherList.append(el('li', 'switcher-empty', 'No room by that name'));
    const input = this.els.switcherInput;
    if (this.choices.length) input.setAttribute('aria-activedescendant', `switcher-option-${this.index}`);
    else input.removeAttribute('aria-activedescendant');
  }
}
