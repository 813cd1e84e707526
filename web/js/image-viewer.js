// An image at full size in a modal dialog, over the conversation: opened from a thumbnail,
// closed with Esc, the close button or a click beside the image. A link opens the file itself.

export class ImageViewer {
  /** @param {HTMLDialogElement} dialog #viewer, holding an img, a caption, a link and a close button */
  constructor(dialog) {
    this.dialog = dialog;
    this.image = dialog.querySelector('img');
    this.caption = dialog.querySelector('.viewer-name');
    this.link = dialog.querySelector('.viewer-open');
    this.returnTo = null;
    dialog.querySelector('.viewer-close').addEventListener('click', () => dialog.close());
    dialog.addEventListener('click', (event) => {
      if (event.target === dialog) dialog.close();
    });
    dialog.addEventListener('close', () => {
      this.image.removeAttribute('src');
      this.returnTo?.focus?.();
      this.returnTo = null;
    });
  }

  get open() {
    return this.dialog.open;
  }

  show(href, name) {
    this.returnTo = document.activeElement;
    this.image.src = href;
    this.image.alt = name || 'image';
    this.caption.textContent = name || '';
    this.dialog.setAttribute('aria-label', name || 'Image');
    this.link.href = href;
    this.dialog.showModal();
    this.dialog.querySelector('.viewer-close').focus();
  }
}
