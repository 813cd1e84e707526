// The display-name dialog: on the first visit (a name is required before anything else) and
// from the "change name" button.

import { normalizeDisplayName } from './sync.js';

export class NameDialog {
  /**
   * @param {object} els dialog, form, input, error and cancel elements
   * @param {(name: string, first: boolean) => void} onName a valid name was submitted
   */
  constructor(els, onName) {
    this.els = els;
    this.first = false;
    els.nameForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const name = normalizeDisplayName(els.nameInput.value);
      if (!name) {
        els.nameError.textContent = 'Pick a name of 1 to 32 characters.';
        els.nameError.hidden = false;
        els.nameInput.setAttribute('aria-invalid', 'true');
        els.nameInput.focus();
        return;
      }
      els.nameInput.setAttribute('aria-invalid', 'false');
      els.nameDialog.close();
      onName(name, this.first);
    });
    els.nameCancel.addEventListener('click', () => els.nameDialog.close());
    els.nameDialog.addEventListener('cancel', (event) => {
      // The first visit needs a name before anything else.
      if (this.first) event.preventDefault();
    });
  }

  /** Opens the dialog with `current` filled in; `first` hides Cancel and blocks Escape. */
  ask(current, { first }) {
    const { els } = this;
    this.first = first;
    els.nameInput.value = current ?? '';
    els.nameCancel.hidden = first;
    els.nameError.hidden = true;
    els.nameDialog.showModal();
    els.nameInput.focus();
    els.nameInput.select();
  }
}
