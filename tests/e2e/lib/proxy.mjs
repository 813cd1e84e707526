// A TCP proxy between the browser and the server, so a test can cut the page's WebSocket
// (and refuse new ones) while the server, its in-memory history and other clients carry on.
// Plain HTTP keeps flowing, so the page can still be reloaded while the socket is cut.

import net from 'node:net';

export async function startProxy(upstreamPort) {
  const sockets = new Set();
  let blockWs = false;
  const server = net.createServer((client) => {
    client.once('data', (first) => {
      const isWs = /^GET \/ws[?\s]/.test(first.toString('latin1', 0, 16));
      if (isWs && blockWs) {
        client.destroy();
        return;
      }
      const upstream = net.connect(upstreamPort, '127.0.0.1');
      const pair = { client, upstream, isWs };
      sockets.add(pair);
      const drop = () => {
        sockets.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      upstream.on('error', drop);
      client.on('error', drop);
      upstream.on('close', drop);
      client.on('close', drop);
      upstream.write(first);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    client.on('error', () => client.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    /** Kills open WebSockets (no close frame: a dead network) and refuses new ones. */
    cutWebSockets() {
      blockWs = true;
      for (const pair of sockets) {
        if (pair.isWs) {
          pair.client.destroy();
          pair.upstream.destroy();
        }
      }
    },
    /** Lets WebSockets through again. */
    restore() {
      blockWs = false;
    },
    async close() {
      for (const pair of sockets) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
