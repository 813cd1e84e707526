// Message formatting: Markdown through markdown-it (bold, italic, code, fenced code, quotes,
// lists, links, bare links) shown as elements, and every syntax tried with hostile input:
// no raw HTML, no script, no image, no link other than http(s).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newPage, openChat } from '../lib/browser.mjs';
import { startServer } from '../lib/server.mjs';
import { connectClient } from '../lib/ws-client.mjs';

describe('formatting', () => {
  let server;
  let browser;
  let alice;
  let mallory;

  before(async () => {
    server = await startServer({ env: { CHAT__LIMITS__MESSAGES_PER_SEC: '1000', CHAT__LIMITS__BURST: '1000' } });
    browser = await launchBrowser();
    alice = await newPage(browser);
    await openChat(alice, server.url, 'alice');
    mallory = await connectClient(server.addr, 'mallory');
    await mallory.join('general');
  });

  after(async () => {
    mallory?.close();
    await browser?.close();
    await server?.stop();
  });

  /** Has mallory say `text` and returns alice's element for it (the last message). */
  async function said(text) {
    const count = await alice.locator('#messages .msg').count();
    await mallory.say('general', text);
    await alice.locator('#messages .msg').nth(count).waitFor();
    return alice.locator('#messages .msg').nth(count).locator('.msg-text');
  }

  it('shows bold, italic, code, fenced code, quotes, lists and links', async () => {
    let m = await said('**bold** and _italic_ and `a < b` and ~~gone~~');
    assert.equal(await m.locator('strong').textContent(), 'bold');
    assert.equal(await m.locator('em').textContent(), 'italic');
    assert.equal(await m.locator('code').textContent(), 'a < b');
    assert.equal(await m.locator('s').textContent(), 'gone');

    m = await said('```\nfn main() {\n    println!("<hi>");\n}\n```');
    assert.equal(await m.locator('pre > code').textContent(), 'fn main() {\n    println!("<hi>");\n}');

    m = await said('> quoted line\n\nmy answer');
    assert.equal(await m.locator('blockquote').textContent(), 'quoted line');
    assert.equal(await m.locator(':scope > p').textContent(), 'my answer');

    m = await said('- one\n- two');
    assert.deepEqual(await m.locator('ul > li').allTextContents(), ['one', 'two']);

    m = await said('read [the docs](https://example.com/docs?a=1) or https://example.org/x_(y).');
    const links = m.locator('a');
    assert.equal(await links.count(), 2);
    assert.equal(await links.nth(0).textContent(), 'the docs');
    assert.equal(await links.nth(0).getAttribute('href'), 'https://example.com/docs?a=1');
    assert.equal(await links.nth(1).getAttribute('href'), 'https://example.org/x_(y)');
    for (const i of [0, 1]) {
      assert.equal(await links.nth(i).getAttribute('target'), '_blank');
      assert.match(await links.nth(i).getAttribute('rel'), /noopener/);
    }

    // Lines stay lines; words like file.txt or a plain e-mail stay text.
    m = await said('first line\nsecond line, see notes.txt or me@example.com');
    assert.equal(await m.textContent(), 'first line\nsecond line, see notes.txt or me@example.com');
    assert.equal(await m.locator('a').count(), 0);
    assert.deepEqual(alice.problems, []);
  });

  it('turns no syntax into markup, script, image or a non-http link', async () => {
    const payloads = [
      '<img src=x onerror="window.__xss = 1">',
      '<script>window.__xss = 2</script>',
      '<a href="javascript:window.__xss = 3">raw link</a>',
      '**<img src=x onerror="window.__xss = 4">**',
      '_<svg onload="window.__xss = 5"></svg>_',
      '`<script>window.__xss = 6</script>`',
      '```html\n<iframe src="javascript:window.__xss = 7"></iframe>\n```',
      '> <img src=x onerror="window.__xss = 8">',
      '- <object data="javascript:window.__xss = 9"></object>',
      '[click](javascript:window.__xss=10)',
      '[click](JaVaScRiPt:window.__xss=11)',
      '[click](java&#x09;script:window.__xss=12)',
      '[click](data:text/html,<script>window.__xss=13</script>)',
      '[click](vbscript:msgbox)',
      '[click](file:///etc/passwd)',
      '[<img src=x onerror="window.__xss = 14">](https://example.com/ok)',
      '[ok](https://example.com/" onmouseover="window.__xss = 15)',
      '![pic](https://example.com/a.png)',
      '![pic](javascript:window.__xss=16)',
      'https://example.com/"><img src=x onerror="window.__xss = 17">',
      '<https://example.com/auto> and <javascript:window.__xss=18>',
      '[ref][1]\n\n[1]: javascript:window.__xss=19',
      '@mallory <img src=x onerror="window.__xss = 20">',
    ];
    for (const text of payloads) await said(text);
    const found = await alice.evaluate(() => {
      const root = document.getElementById('messages');
      return {
        dangerous: root.querySelectorAll('img, script, iframe, svg, object, embed, style, link, form, input, video, audio').length,
        handlers: [...root.querySelectorAll('*')].filter((el) => [...el.attributes].some((a) => /^on/i.test(a.name))).length,
        hrefs: [...root.querySelectorAll('[href], [src]')].map((el) => el.getAttribute('href') ?? el.getAttribute('src')),
        xss: window.__xss,
      };
    });
    assert.equal(found.dangerous, 0, 'no element that loads or runs anything');
    assert.equal(found.handlers, 0, 'no event handler attribute');
    assert.equal(found.xss, undefined);
    for (const href of found.hrefs) assert.match(href, /^https?:\/\//, `only http(s) links: ${href}`);
    assert.ok(found.hrefs.includes('https://example.com/ok'), 'a link with markup in its text stays a link');
    assert.ok(found.hrefs.includes('https://example.com/auto'), 'an autolink in <> is a link');
    // The markup is shown as the text it is.
    const texts = await alice.locator('#messages .msg .msg-text').allTextContents();
    assert.ok(texts.includes('<img src=x onerror="window.__xss = 1">'));
    assert.ok(texts.includes('<script>window.__xss = 2</script>'));
    assert.deepEqual(alice.problems, [], 'no console error or CSP violation');
  });

  it('still shows plain text exactly as typed', async () => {
    const before = await alice.locator('#messages .msg').count();
    const plain = ['2 * 3 * 4 = 24', 'snake_case_name and my_var_2', 'price: $5 (approx) #1'];
    for (const text of plain) await mallory.say('general', text);
    await alice.locator('#messages .msg').nth(before + plain.length - 1).waitFor();
    const texts = (await alice.locator('#messages .msg .msg-text').allTextContents()).slice(before);
    assert.deepEqual(texts, plain);
    assert.deepEqual(alice.problems, []);
  });
});
