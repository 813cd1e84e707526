// Starts the real chat-server binary on 127.0.0.1 (port 0 unless told), serving the page
// built into it, and stops it. The bound address comes from its "listening on ADDR" log line.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../../..');
const binary = process.env.CHAT_SERVER_BIN ?? path.join(repoRoot, 'target/debug/chat-server');

/** How long a server may take to log its address (a cold debug binary on a busy machine). */
const START_TIMEOUT_MS = 15000;
/** How long a SIGTERM may take before SIGKILL (the server's own grace is 10 s by default). */
const STOP_TIMEOUT_MS = 8000;

/**
 * Starts a server. `env` adds CHAT__* settings. History is in memory unless `memory` is false,
 * which leaves the backend to the server's default. `dataDir` (a fresh temp dir by default) is
 * the working directory and CHAT__HISTORY__PATH points into it, so a durable history survives
 * a restart given the same dir.
 */
export async function startServer({ port = 0, env = {}, dataDir, memory = true } = {}) {
  if (!fs.existsSync(binary)) {
    throw new Error(`no server binary at ${binary}: run \`cargo build -p chat-server\` first`);
  }
  const cwd = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'chat-e2e-'));
  const child = spawn(binary, ['--listen', `127.0.0.1:${port}`], {
    cwd,
    env: {
      ...process.env,
      RUST_LOG: '',
      NO_COLOR: '1',
      // The page built into the binary, as users get it; E2E_WEB_DIR serves a folder instead
      // (edit web/ and rerun without rebuilding).
      ...(process.env.E2E_WEB_DIR ? { CHAT__SERVER__WEB_DIR: process.env.E2E_WEB_DIR } : {}),
      ...(memory ? { CHAT__HISTORY__BACKEND: 'memory' } : {}),
      CHAT__HISTORY__PATH: path.join(cwd, 'chat.db'),
      CHAT__SERVER__SHUTDOWN_GRACE: '3s',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in time:\n${log}`)), START_TIMEOUT_MS);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      log += chunk;
      // eslint-disable-next-line no-control-regex
      const match = log.replace(/\u001b\[[0-9;]*m/g, '').match(/listening on (\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening:\n${log}`));
    });
  });
  return {
    addr,
    port: Number(addr.split(':').pop()),
    url: `http://${addr}/`,
    dataDir: cwd,
    log: () => log,
    exited,
    /** SIGTERM (graceful: clients get 1001), then SIGKILL if it lingers. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

/** Starts a server on `port`, retrying briefly while the old one's socket is released. */
export async function restartServer(port, options = {}) {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      return await startServer({ ...options, port });
    } catch (e) {
      if (Date.now() > deadline || !/in use|AddrInUse|bind/i.test(String(e.message))) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
