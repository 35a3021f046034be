import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EvapiClient } from '../../../src/daemon/cdr/evapi-client.js';
import { encodeNetstring } from '../../../src/daemon/cdr/netstring.js';

/** A stand-in for Kamailio's evapi server: accepts clients, lets the test write to them. */
async function fakeEvapi(port = 0): Promise<{ server: Server; port: number; clients: Socket[] }> {
  const clients: Socket[] = [];
  const server = createServer((s) => clients.push(s));
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, clients };
}

function stopServer(e: { server: Server; clients: Socket[] }): Promise<void> {
  for (const c of e.clients) c.destroy();
  return new Promise((r) => e.server.close(() => r()));
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const open: { close(): unknown }[] = [];
afterEach(async () => {
  // Clients first: a server's close() waits for its connections.
  for (const o of open.splice(0).reverse()) await o.close();
});

describe('EvapiClient', () => {
  it('delivers netstring payloads in order, split or merged across TCP reads', async () => {
    const evapi = await fakeEvapi();
    open.push({ close: () => stopServer(evapi) });
    const got: string[] = [];
    const c = new EvapiClient({ host: '127.0.0.1', port: evapi.port, onMessage: (t) => got.push(t) });
    open.push(c);
    c.start();
    await until(() => evapi.clients.length === 1 && c.connected);
    const wire = Buffer.concat([encodeNetstring('{"a":1}'), encodeNetstring('{"b":2}'), encodeNetstring('{"c":3}')]);
    evapi.clients[0]!.write(wire.subarray(0, 5));
    await new Promise((r) => setTimeout(r, 30));
    evapi.clients[0]!.write(wire.subarray(5));
    await until(() => got.length === 3);
    expect(got).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it('survives a throwing handler and a broken stream, and reconnects after Kamailio restarts', async () => {
    const evapi = await fakeEvapi();
    const port = evapi.port;
    const got: string[] = [];
    const c = new EvapiClient({
      host: '127.0.0.1', port, minBackoffMs: 20, maxBackoffMs: 100,
      onMessage: (t) => {
        if (t === 'boom') throw new Error('bad event');
        got.push(t);
      },
    });
    open.push(c);
    c.start();
    await until(() => evapi.clients.length === 1 && c.connected);
    evapi.clients[0]!.write(Buffer.concat([encodeNetstring('boom'), encodeNetstring('ok1')]));
    await until(() => got.length === 1);
    expect(c.rejected).toBe(1);
    // Garbage: the client drops the connection and comes back.
    evapi.clients[0]!.write('x:garbage');
    await until(() => evapi.clients.length === 2);
    await until(() => c.connected);
    // Kamailio goes away and comes back on the same port.
    for (const s of evapi.clients) s.destroy();
    await new Promise<void>((r) => evapi.server.close(() => r()));
    await until(() => !c.connected);
    const again = await fakeEvapi(port);
    open.push({ close: () => stopServer(again) });
    await until(() => again.clients.length === 1 && c.connected, 5000);
    again.clients[0]!.write(encodeNetstring('ok2'));
    await until(() => got.length === 2);
    expect(got).toEqual(['ok1', 'ok2']);
  });

  it('keeps retrying while nothing listens, and close() stops it', async () => {
    const evapi = await fakeEvapi();
    const port = evapi.port;
    await new Promise<void>((r) => evapi.server.close(() => r()));
    const c = new EvapiClient({ host: '127.0.0.1', port, minBackoffMs: 10, maxBackoffMs: 40, onMessage: () => undefined });
    c.start();
    await new Promise((r) => setTimeout(r, 150));
    expect(c.connected).toBe(false);
    await c.close();
    const late = await fakeEvapi(port);
    await new Promise((r) => setTimeout(r, 150));
    expect(late.clients).toHaveLength(0);
    await new Promise<void>((r) => late.server.close(() => r()));
  });
});
