// The side panels on narrow screens: the room list slides in from the left (menu button), the
// member list from the right (members button); a scrim, Escape or picking a room closes them.
// On wide screens the room list is always there and the member list is a column to toggle.

/** At this width and above the member list is a column, not an overlay. */
const WIDE = '(min-width: 1100px)';

export class Panels {
  /**
   * @param {object} els the app's elements (app, sidebar, menuButton, membersButton, scrim,
   *   sidebarClose, membersClose, joinInput, nameDialog)
   * @param {() => void} onDismiss called after a panel is dismissed by the user (to refocus)
   */
  constructor(els, onDismiss) {
    this.els = els;
    this.wide = window.matchMedia(WIDE);
    this.membersOpen = false;
    this.setMembersOpen(this.wide.matches);
    els.menuButton.addEventListener('click', () => this.setSidebarOpen(!this.sidebarOpen));
    els.membersButton.addEventListener('click', () => this.setMembersOpen(!this.membersOpen));
    for (const close of [els.sidebarClose, els.membersClose]) {
      close.addEventListener('click', () => {
        this.closeOverlays();
        onDismiss();
      });
    }
    els.scrim.addEventListener('click', () => {
      this.closeOverlays();
      onDismiss();
    });
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && !els.nameDialog.open && !els.scrim.hidden) {
        this.closeOverlays();
        onDismiss();
      }
    });
    this.wide.addEventListener('change', () => this.setMembersOpen(this.wide.matches));
  }

  get sidebarOpen() {
    return this.els.app.classList.contains('sidebar-open');
  }

  setMembersOpen(open) {
    this.membersOpen = open;
    this.els.app.classList.toggle('members-open', open);
    this.els.membersButton.setAttribute('aria-expanded', String(open));
    this.#updateScrim();
  }

  setSidebarOpen(open) {
    this.els.app.classList.toggle('sidebar-open', open);
    this.els.menuButton.setAttribute('aria-expanded', String(open));
    this.#updateScrim();
    if (open) (this.els.sidebar.querySelector('.room-open[aria-current]') ?? this.els.joinInput).focus();
  }

  /** Closes whatever covers the conversation (nothing on wide screens). */
  closeOverlays() {
    if (this.sidebarOpen) this.setSidebarOpen(false);
    if (this.membersOpen && !this.wide.matches) this.setMembersOpen(false);
  }

  #updateScrim() {
    this.els.scrim.hidden = !this.sidebarOpen && !(this.membersOpen && !this.wide.matches);
  }
}
