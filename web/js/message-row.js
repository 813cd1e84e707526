// One message's row in the timeline: avatar, author, text (Markdown) or the "Message deleted"
// placeholder, its files, time and "(edited)", its reaction chips and its action bar (react,
// and edit and delete on the user's own). A row is built once; `fillRow` refreshes only the
// parts whose state changed, so focus inside a row survives an edit or a reaction arriving.

import { avatar, el, timeElement } from './dom.js';
import { renderFiles } from './file-view.js';
import { renderMarkdown } from './markdown.js';

/** A message longer than this (characters or lines) is collapsed behind "Show more". */
const LONG_CHARS = 700;
const LONG_LINES = 12;

/**
 * A row's skeleton. `view` is the message as shown (with the user's pending changes, see
 * changes.withPending), `name` its author's name.
 */
export function rowNode(view, name, own, id) {
  const node = el('li', own ? 'msg own' : 'msg');
  const author = el('span', 'msg-author', own ? 'You' : name);
  const body = el('div', 'msg-body');
  const bubble = el('div', 'msg-bubble');
  const foot = el('span', 'msg-foot');
  foot.append(timeElement(view.ts, 'msg-time'));
  bubble.append(el('div', 'msg-text'), el('div', 'msg-files'), foot);
  body.append(author, bubble, el('div', 'msg-reactions'));
  node.append(avatar(name, 'msg-avatar', own ? undefined : id), body);
  return node;
}

/**
 * Brings a row's text, files, markers, reactions and actions in line with `view`. `ctx` holds
 * the names to highlight (names, me), the user's id (`myId`), whether the user may change the
 * message (`canChange`), whether it may react (`canReact`) and `nameOf(userId)`.
 */
export function fillRow(node, view, ctx) {
  const deleted = view.deleted === true || view.pending === 'delete';
  node.classList.toggle('deleted', deleted);
  node.classList.toggle('edited', Boolean(view.edited) || view.pending === 'edit');
  node.classList.toggle('changing', view.pending !== null && view.pending !== undefined);
  once(node, 'text', [view.text, deleted, view.pending], () => fillText(node, view, deleted, ctx));
  once(node, 'files', deleted ? [] : (view.files ?? []), () => {
    const files = node.querySelector('.msg-files');
    files.replaceChildren(...(deleted ? [] : renderFiles(view.files ?? [])));
    node.classList.toggle('has-files', files.childElementCount > 0);
  });
  once(node, 'foot', [view.edited ?? null, view.pending], () => fillFoot(node, view));
  const reactions = deleted ? [] : (view.reactions ?? []);
  once(node, 'reactions', [reactions, ctx.myId, ctx.canReact], () => fillReactions(node, reactions, ctx));
  const actions = { react: ctx.canReact && !deleted, change: ctx.canChange && !deleted };
  once(node, 'actions', actions, () => fillActions(node, actions));
}

/** Runs `fill` when `state` differs from what the row last showed for `part`. */
function once(node, part, state, fill) {
  const key = JSON.stringify(state);
  if (node.dataset[`${part}State`] === key) return;
  node.dataset[`${part}State`] = key;
  fill();
}

function fillText(node, view, deleted, ctx) {
  const bubble = node.querySelector('.msg-bubble');
  const text = node.querySelector('.msg-text');
  bubble.querySelector('.msg-more')?.remove();
  bubble.classList.remove('long', 'expanded');
  text.hidden = false;
  if (deleted) {
    text.replaceChildren(el('p', 'msg-deleted', view.pending === 'delete' ? 'Deleting…' : 'Message deleted'));
    return;
  }
  text.replaceChildren(renderMarkdown(view.text ?? '', ctx));
  text.hidden = !view.text;
  if (view.text.length > LONG_CHARS || view.text.split('\n').length > LONG_LINES) {
    bubble.classList.add('long');
    const more = el('button', 'link-button msg-more', 'Show more');
    more.type = 'button';
    more.setAttribute('aria-expanded', 'false');
    more.addEventListener('click', () => {
      const expanded = bubble.classList.toggle('expanded');
      more.textContent = expanded ? 'Show less' : 'Show more';
      more.setAttribute('aria-expanded', String(expanded));
    });
    bubble.append(more);
  }
}

function fillFoot(node, view) {
  const foot = node.querySelector('.msg-foot');
  foot.querySelector('.msg-edited')?.remove();
  let marker = null;
  if (view.pending === 'edit') marker = el('span', 'msg-edited', '(saving…)');
  else if (view.edited && !view.deleted) {
    marker = el('span', 'msg-edited', '(edited)');
    marker.title = `Edited ${new Date(view.edited).toLocaleString()}`;
  }
  if (marker) foot.prepend(marker);
}

/** Reaction chips: the emoji and its count, pressed when the user is among those who chose it. */
function fillReactions(node, reactions, ctx) {
  const box = node.querySelector('.msg-reactions');
  const focused = box.contains(document.activeElement) ? document.activeElement.dataset.emoji : null;
  box.replaceChildren(
    ...reactions.map((r) => {
      const mine = r.users.includes(ctx.myId);
      const chip = el('button', 'reaction');
      chip.type = 'button';
      chip.dataset.emoji = r.emoji;
      chip.disabled = !ctx.canReact;
      chip.setAttribute('aria-pressed', String(mine));
      const count = r.users.length;
      const who = r.users.map((u) => (u === ctx.myId ? 'you' : ctx.nameOf(u))).join(', ');
      chip.setAttribute('aria-label', `${r.emoji} ${count} (${who}): ${mine ? 'remove your reaction' : 'react too'}`);
      chip.title = `${who} reacted with ${r.emoji}`;
      const emoji = el('span', 'reaction-emoji', r.emoji);
      emoji.setAttribute('aria-hidden', 'true');
      const number = el('span', 'reaction-count', String(count));
      number.setAttribute('aria-hidden', 'true');
      chip.append(emoji, number);
      return chip;
    }),
  );
  box.hidden = reactions.length === 0;
  if (focused) box.querySelector(`[data-emoji="${CSS.escape(focused)}"]`)?.focus();
}

/** The action bar: shown on hover, on focus within the row, or after a long press. */
function fillActions(node, { react, change }) {
  node.querySelector('.msg-actions')?.remove();
  const keys = [];
  if (react) keys.push('R');
  if (change) keys.push('E', 'Delete');
  if (keys.length) node.setAttribute('aria-keyshortcuts', keys.join(' '));
  else node.removeAttribute('aria-keyshortcuts');
  if (!react && !change) return;
  const bar = el('div', 'msg-actions');
  bar.setAttribute('role', 'toolbar');
  bar.setAttribute('aria-label', 'Message actions');
  if (react) bar.append(actionButton('react', '☺', 'Add a reaction (R)'));
  if (change) {
    bar.append(actionButton('edit', '✎', 'Edit message (E)'));
    bar.append(actionButton('delete', '🗑', 'Delete message (Delete)'));
  }
  // In the bubble, so it sits at the bubble's corner whatever the row's width.
  node.querySelector('.msg-bubble').append(bar);
}

function actionButton(action, glyph, label) {
  const button = el('button', `msg-action msg-action-${action}`);
  button.type = 'button';
  button.dataset.action = action;
  button.setAttribute('aria-label', label);
  button.title = label;
  const icon = el('span', '', glyph);
  icon.setAttribute('aria-hidden', 'true');
  button.append(icon);
  return button;
}
