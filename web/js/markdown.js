// Message text as Markdown: **bold**, _italic_, `code`, fenced code, > quotes, lists,
// [links](https://…) and bare links, parsed by markdown-it (web/vendor, raw HTML off). The
// parser's tokens are turned into DOM nodes here, with text through text nodes only: no HTML
// string is ever built from a message, and only http(s) links become links.

import MarkdownIt from '../vendor/markdown-it.min.mjs';
import { findMentions } from './mentions.js';
import { safeHref } from './sync.js';

const md = new MarkdownIt('default', { html: false, linkify: true, breaks: true, typographer: false });
// Chat needs no images (they would load from anywhere), tables, headings or rules.
md.disable(['image', 'table', 'heading', 'lheading', 'hr', 'reference', 'html_block', 'html_inline']);
// Only links with a scheme: "file.txt" or "a.b" stay text.
md.linkify.set({ fuzzyLink: false, fuzzyEmail: false });

/** The elements a token may become; anything else becomes a <span>. */
const TAGS = new Set(['p', 'strong', 'em', 's', 'blockquote', 'ul', 'ol', 'li']);

/**
 * `text` as a fragment of DOM nodes. `names` are the names whose `@mentions` are highlighted;
 * `me` (one of them, or null) gets the stronger highlight.
 */
export function renderMarkdown(text, { names = [], me = null } = {}) {
  const fragment = document.createDocumentFragment();
  let tokens;
  try {
    tokens = md.parse(String(text), {});
  } catch {
    // A parser failure must not lose the message: show it as it was typed.
    fragment.append(document.createTextNode(String(text)));
    return fragment;
  }
  build(tokens, fragment, { names, me });
  return fragment;
}

function build(tokens, root, options) {
  const stack = [root];
  for (const token of tokens) {
    const parent = stack[stack.length - 1];
    // A tight list's paragraphs are hidden: their text goes straight into the item.
    if (token.hidden && token.nesting !== 0) continue;
    if (token.nesting === 1) {
      const node = openNode(token);
      parent.append(node);
      stack.push(node);
      continue;
    }
    if (token.nesting === -1) {
      if (stack.length > 1) stack.pop();
      continue;
    }
    switch (token.type) {
      case 'inline':
        build(token.children ?? [], parent, options);
        break;
      case 'text':
        appendText(parent, token.content, options);
        break;
      case 'code_inline': {
        const code = document.createElement('code');
        code.textContent = token.content;
        parent.append(code);
        break;
      }
      case 'fence':
      case 'code_block': {
        const pre = document.createElement('pre');
        const code = document.createElement('code');
        code.textContent = token.content.replace(/\n$/, '');
        pre.append(code);
        parent.append(pre);
        break;
      }
      case 'softbreak':
        parent.append(document.createTextNode('\n'));
        break;
      case 'hardbreak':
        parent.append(document.createElement('br'));
        break;
      default:
        // Nothing else is enabled; should a token appear, its text is still only text.
        if (token.content) parent.append(document.createTextNode(token.content));
    }
  }
}

function openNode(token) {
  if (token.type === 'link_open') {
    const href = safeHref(token.attrGet('href') ?? '');
    if (!href) return document.createElement('span');
    const link = document.createElement('a');
    link.href = href;
    link.target = '_blank';
    link.rel = 'noopener noreferrer nofollow';
    return link;
  }
  const node = document.createElement(TAGS.has(token.tag) ? token.tag : 'span');
  if (token.type === 'ordered_list_open') {
    const start = Number(token.attrGet('start'));
    if (Number.isSafeInteger(start) && start !== 1) node.start = start;
  }
  return node;
}

/** Text with its @mentions wrapped in <span class="mention">. */
function appendText(parent, text, { names, me }) {
  let last = 0;
  for (const found of findMentions(text, names)) {
    if (found.start > last) parent.append(document.createTextNode(text.slice(last, found.start)));
    const mention = document.createElement('span');
    mention.className = found.name === me ? 'mention mention-me' : 'mention';
    mention.textContent = text.slice(found.start, found.end);
    parent.append(mention);
    last = found.end;
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}
