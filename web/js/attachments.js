// Files to send with the next message: the attach button (a file chooser), files dropped on
// the conversation and files pasted into the message box. Each is uploaded at once, shown in
// a tray above the composer with its progress and a button to cancel or remove it; what the
// server refused stays there with the reason in words until removed. No file sharing (no
// `welcome.upload`): no button, and drops and pastes are ignored.

import { el } from './dom.js';
import { humanSize } from './file-view.js';
import { startUpload } from './uploads.js';

/** At most this many files go with one message (the server takes 10). */
export const MAX_FILES = 10;

export class Attachments {
  /**
   * @param {object} els attachButton, fileInput, tray (a <ul>), chat (the drop zone), input
   * @param {object} hooks upload() → { url, token, max_bytes } | null (from the last welcome),
   *   online() → bool, room() → name | null, changed() (the tray changed), announce(text)
   */
  constructor(els, hooks) {
    this.els = els;
    this.hooks = hooks;
    this.items = [];
    this.count = 0;
    els.attachButton.addEventListener('click', () => els.fileInput.click());
    els.fileInput.addEventListener('change', () => {
      this.add([...els.fileInput.files]);
      els.fileInput.value = '';
      els.input.focus();
    });
    els.tray.addEventListener('click', (event) => {
      const button = event.target.closest('[data-remove]');
      if (button) this.remove(button.dataset.remove);
    });
    els.input.addEventListener('paste', (event) => {
      const files = [...(event.clipboardData?.files ?? [])];
      if (!files.length || !this.enabled) return;
      event.preventDefault();
      this.add(files);
    });
    this.#dropZone();
  }

  /** Whether file sharing is on for this connection. */
  get enabled() {
    return Boolean(this.hooks.upload()) && this.hooks.online() && Boolean(this.hooks.room());
  }

  /** Shows or hides the attach button as file sharing is on or off. */
  render() {
    this.els.attachButton.hidden = !this.hooks.upload();
    this.els.attachButton.disabled = !this.enabled;
  }

  /** Files uploaded and ready to go with the message: their descriptions. */
  ready() {
    return this.items.filter((i) => i.state === 'done').map((i) => i.file);
  }

  /** Whether an upload is still under way. */
  busy() {
    return this.items.some((i) => i.state === 'uploading');
  }

  /** Empties the tray once its files went with a message. */
  clear() {
    for (const item of this.items) item.upload?.cancel();
    this.items = [];
    this.#draw();
  }

  /** Starts uploading `files`. */
  add(files) {
    const upload = this.hooks.upload();
    if (!upload || !files.length) return;
    if (!this.enabled) {
      // The upload token is the connection's: nothing can go up while it is away.
      this.hooks.announce('Files can be shared once the connection is back.');
      return;
    }
    for (const file of files) {
      if (this.items.filter((i) => i.state !== 'failed').length >= MAX_FILES) {
        this.#failed(file, `${file.name} was not added: at most ${MAX_FILES} files go with one message.`);
        continue;
      }
      const item = { key: `a${++this.count}`, name: file.name || 'pasted-file', size: file.size, state: 'uploading', progress: 0, error: null, file: null };
      item.upload = startUpload(upload, file, (fraction) => {
        item.progress = fraction;
        this.#drawProgress(item);
      });
      this.items.push(item);
      this.hooks.announce(`Uploading ${item.name}.`);
      item.upload.done.then(
        (stored) => {
          item.state = 'done';
          item.file = stored;
          item.upload = null;
          this.hooks.announce(`${item.name} uploaded.`);
          this.#draw();
        },
        (error) => {
          item.upload = null;
          if (error.status === -1) {
            this.items = this.items.filter((i) => i !== item);
          } else {
            item.state = 'failed';
            item.error = error.message;
          }
          this.hooks.announce(error.message);
          this.#draw();
        },
      );
    }
    this.#draw();
  }

  /** Cancels an upload under way, or takes a file out of the tray. */
  remove(key) {
    const item = this.items.find((i) => i.key === key);
    if (!item) return;
    if (item.upload) item.upload.cancel();
    else this.items = this.items.filter((i) => i !== item);
    this.#draw();
    this.els.input.focus();
  }

  #failed(file, error) {
    this.items.push({ key: `a${++this.count}`, name: file.name, size: file.size, state: 'failed', progress: 0, error, file: null });
    this.hooks.announce(error);
  }

  #draw() {
    const { tray } = this.els;
    tray.replaceChildren(...this.items.map((item) => this.#itemNode(item)));
    tray.hidden = this.items.length === 0;
    this.hooks.changed();
  }

  #itemNode(item) {
    const li = el('li', `attachment ${item.state}`);
    li.dataset.key = item.key;
    const text = el('span', 'attachment-text');
    text.append(el('span', 'attachment-name', item.name), el('span', 'attachment-size', humanSize(item.size)));
    li.append(text);
    if (item.state === 'uploading') {
      const bar = el('progress', 'attachment-progress');
      bar.max = 1;
      bar.value = item.progress;
      bar.setAttribute('aria-label', `Uploading ${item.name}`);
      li.append(bar);
    } else {
      const status = el('span', 'attachment-status', item.state === 'done' ? 'Ready to send' : item.error);
      li.append(status);
    }
    const button = el('button', 'icon-button attachment-remove', '×');
    button.type = 'button';
    button.dataset.remove = item.key;
    const label = item.state === 'uploading' ? `Cancel upload of ${item.name}` : `Remove ${item.name}`;
    button.setAttribute('aria-label', label);
    button.title = label;
    li.append(button);
    return li;
  }

  #drawProgress(item) {
    const bar = this.els.tray.querySelector(`[data-key="${item.key}"] progress`);
    if (bar) bar.value = item.progress;
  }

  /** Files dragged over the conversation: a highlight, and a drop adds them. */
  #dropZone() {
    const zone = this.els.chat;
    let depth = 0;
    const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files');
    zone.addEventListener('dragenter', (event) => {
      if (!carriesFiles(event) || !this.enabled) return;
      event.preventDefault();
      depth += 1;
      zone.classList.add('dropping');
    });
    zone.addEventListener('dragover', (event) => {
      if (!carriesFiles(event) || !this.enabled) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
    });
    zone.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.classList.remove('dropping');
    });
    zone.addEventListener('drop', (event) => {
      depth = 0;
      zone.classList.remove('dropping');
      if (!carriesFiles(event) || !this.enabled) return;
      event.preventDefault();
      this.add([...event.dataTransfer.files]);
      this.els.input.focus();
    });
  }
}
