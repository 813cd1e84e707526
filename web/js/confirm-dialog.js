// Asking before something that cannot be undone (deleting a message): a modal dialog that
// quotes what goes, with Cancel and the action. Esc or Cancel keeps it.

export class ConfirmDialog {
  /** @param {HTMLDialogElement} dialog #confirm-delete, with .confirm-quote and two buttons */
  constructor(dialog) {
    this.dialog = dialog;
    this.quote = dialog.querySelector('.confirm-quote');
    this.onConfirm = null;
    this.onClose = null;
    dialog.querySelector('form').addEventListener('submit', (event) => {
      event.preventDefault();
      const confirm = this.onConfirm;
      this.onConfirm = null;
      dialog.close();
      confirm?.();
    });
    dialog.querySelector('.confirm-cancel').addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      const closed = this.onClose;
      this.onClose = null;
      this.onConfirm = null;
      closed?.();
    });
  }

  get open() {
    return this.dialog.open;
  }

  /** Shows `quote` (the message's text) and calls `confirm` if the user goes ahead, `closed` either way. */
  ask(quote, confirm, closed) {
    this.quote.textContent = quote;
    this.quote.hidden = !quote;
    this.onConfirm = confirm;
    this.onClose = closed;
    this.dialog.showModal();
    this.dialog.querySelector('.confirm-go').focus();
  }
}
