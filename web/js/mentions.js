// @mentions: whether a text mentions a name, where the mentions are (to highlight them), and
// the completion of a half-typed `@na` from the room's members. Pure: no DOM.

/** A letter, digit or underscore: a mention is not followed (or preceded) by one. */
const WORD = /[\p{L}\p{N}_]/u;

/** Whether `text` holds `@name` (any case) as a whole mention. */
export function mentions(text, name) {
  if (!name) return false;
  return findMentions(String(text ?? ''), [name]).length > 0;
}

/**
 * The mentions of any of `names` in `text`, in order, as { start, end, name } (end exclusive,
 * the `@` included). Longer names win where one is the start of another ("al" and "alice").
 */
export function findMentions(text, names) {
  const wanted = [...new Set(names.filter(Boolean))].sort((a, b) => b.length - a.length);
  if (!wanted.length || !text.includes('@')) return [];
  const lower = text.toLocaleLowerCase();
  const found = [];
  let at = lower.indexOf('@');
  while (at !== -1) {
    const before = at > 0 ? text[at - 1] : '';
    let end = -1;
    let who = null;
    if (!before || !WORD.test(before)) {
      for (const name of wanted) {
        const candidate = name.toLocaleLowerCase();
        if (!lower.startsWith(candidate, at + 1)) continue;
        const after = text.slice(at + 1 + candidate.length).match(/^./su)?.[0] ?? '';
        if (after && WORD.test(after)) continue;
        end = at + 1 + candidate.length;
        who = name;
        break;
      }
    }
    if (who) found.push({ start: at, end, name: who });
    at = lower.indexOf('@', who ? end : at + 1);
  }
  return found;
}

/**
 * The `@query` being typed at `caret` in `value` (the text from an `@` at a word's start up to
 * the caret, no line break), or null.
 */
export function mentionQuery(value, caret) {
  const head = value.slice(0, caret);
  const match = head.match(/(?:^|[^\p{L}\p{N}_])@([^\n@]{0,32})$/u);
  if (!match) return null;
  return { query: match[1], start: caret - match[1].length - 1 };
}

/** Members whose name starts with (then contains) `query`, case-insensitive, at most `max`. */
export function completeMention(query, members, max = 6) {
  const q = query.toLocaleLowerCase();
  const names = members.map((m) => m.name);
  const starts = names.filter((n) => n.toLocaleLowerCase().startsWith(q));
  const contains = names.filter((n) => !starts.includes(n) && n.toLocaleLowerCase().includes(q));
  return [...starts, ...contains]
    .filter((n, i, all) => all.indexOf(n) === i)
    .slice(0, max);
}
