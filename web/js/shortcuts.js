// Keys that work anywhere on the page: Ctrl/Cmd+K opens the room switcher, Alt+↑/↓ moves to
// the previous/next room, `?` (outside text fields) shows the list of shortcuts, Esc closes
// the open menu or panel (dialogs close on Esc by themselves).

export class Shortcuts {
  /**
   * @param {object} els shortcuts (dialog), shortcutsClose, shortcutsButton
   * @param {object} actions switcher(), step(delta), closeAll() → bool, blocked() → bool
   */
  constructor(els, actions) {
    this.els = els;
    els.shortcutsButton.addEventListener('click', () => this.show());
    els.shortcutsClose.addEventListener('click', () => els.shortcuts.close());
    document.addEventListener('keydown', (event) => {
      if (event.defaultPrevented || actions.blocked()) return;
      const mod = event.ctrlKey || event.metaKey;
      if (mod && !event.altKey && !event.shiftKey && event.key.toLowerCase() === 'k') {
        event.preventDefault();
        if (els.shortcuts.open) els.shortcuts.close();
        actions.switcher();
      } else if (event.altKey && !mod && (event.key === 'ArrowUp' || event.key === 'ArrowDown')) {
        event.preventDefault();
        actions.step(event.key === 'ArrowUp' ? -1 : 1);
      } else if (event.key === '?' && !mod && !event.altKey && !typingIn(event.target)) {
        event.preventDefault();
        this.show();
      } else if (event.key === 'Escape' && actions.closeAll()) {
        event.preventDefault();
      }
    });
  }

  show() {
    if (!this.els.shortcuts.open) this.els.shortcuts.showModal();
    this.els.shortcutsClose.focus();
  }
}

/** Whether a key goes into a text field (where `?` is just a character). */
function typingIn(target) {
  return Boolean(target?.closest?.('input, textarea, select, [contenteditable="true"]'));
}
