// Uploading one file to the server (`POST welcome.upload.url?name=…` with the connection's
// upload token), with progress and cancel: XMLHttpRequest, whose upload reports progress,
// which fetch does not. The answer is the stored file's description, for `send`'s `files`.
// Refusals come back as the HTTP status, and are put in words here.

import { humanSize } from './file-view.js';

/** A refused or failed upload: `status` is the HTTP status (0: no answer, -1: cancelled). */
export class UploadError extends Error {
  constructor(status, text) {
    super(text);
    this.status = status;
  }
}

/**
 * Starts uploading `file` with `upload` ({ url, token, max_bytes }). `onProgress(fraction)`
 * follows the bytes sent. Returns { done: Promise<file description>, cancel() }.
 */
export function startUpload(upload, file, onProgress = () => {}) {
  const name = file.name || 'pasted-file';
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    if (upload.max_bytes && file.size > upload.max_bytes) {
      reject(new UploadError(413, refusal(413, name, upload.max_bytes)));
      return;
    }
    const url = new URL(upload.url, location.href);
    url.searchParams.set('name', name);
    xhr.open('POST', url.href);
    xhr.setRequestHeader('Authorization', `Bearer ${upload.token}`);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      const body = xhr.response;
      if (xhr.status === 201 && body && typeof body.id === 'string') {
        onProgress(1);
        resolve(body);
      } else {
        reject(new UploadError(xhr.status, refusal(xhr.status, name, upload.max_bytes)));
      }
    });
    xhr.addEventListener('error', () => reject(new UploadError(0, refusal(0, name))));
    xhr.addEventListener('abort', () => reject(new UploadError(-1, `Upload of ${name} cancelled.`)));
    xhr.send(file);
  });
  return { done, cancel: () => xhr.abort() };
}

/** Why the server refused an upload, in words. */
export function refusal(status, name, maxBytes) {
  switch (status) {
    case 413:
      return `${name} is too large to share${maxBytes ? ` (at most ${humanSize(maxBytes)})` : ''}.`;
    case 415:
      return `${name} cannot be shared: the server does not accept files of this type (or the image is too big or broken).`;
    case 429:
      return `${name} was not sent: too many uploads in the last minute. Try again in a little while.`;
    case 401:
      return `${name} was not sent: the upload was not allowed (the connection changed). Try again.`;
    case 0:
      return `${name} was not sent: the connection to the server failed.`;
    default:
      return `${name} was not sent: the server answered ${status}.`;
  }
}
