/**
 * SipTransport on loopback (ephemeral ports): UDP and TCP on one port, Via received/rport stamping
 * (§18.2.1, RFC 3581), response routing (§18.2.2) over UDP and TCP (same connection, or a new one
 * when it closed), trusted peers, malformed input answered 400/505 or dropped, keep-alives, and
 * handler exceptions contained at the edge.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import { parseMessage } from '../../src/sip/parse.js';
import { buildResponse, serializeMessage } from '../../src/sip/serialize.js';
import { getHeader } from '../../src/sip/headers.js';
import { SipTransport, stampReceived, type IncomingMessage, type TransportOptions } from '../../src/sip/transport.js';

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

async function listen(options: Partial<TransportOptions> = {}): Promise<SipTransport> {
  const t = await SipTransport.listen({ host: '127.0.0.1', port: 0, ...options });
  open.push(t);
  return t;
}

async function udpPeer(): Promise<{ socket: dgram.Socket; port: number; next(): Promise<string> }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  open.push({ close: () => new Promise<void>((r) => socket.close(() => r())) });
  const queue: string[] = [];
  const waiters: ((s: string) => void)[] = [];
  socket.on('message', (m) => {
    const w = waiters.shift();
    if (w) w(m.toString());
    else queue.push(m.toString());
  });
  return {
    socket,
    port: socket.address().port,
    next: () => {
      const q = queue.shift();
      return q !== undefined ? Promise.resolve(q) : new Promise((r) => waiters.push(r));
    },
  };
}

function options(sentBy: string, extra = '', branch = 'z9hG4bKt1'): string {
  return (
    `OPTIONS sip:daemon@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP ${sentBy};branch=${branch}${extra}\r\n` +
    'From: <sip:k@127.0.0.1>;tag=f1\r\nTo: <sip:daemon@127.0.0.1>\r\nCall-ID: tc1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n'
  );
}

function nextMessage(t: SipTransport): Promise<IncomingMessage> {
  return new Promise((resolve) => t.once('message', resolve));
}

const tick = (ms = 50): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('SipTransport', () => {
  it('listens on one ephemeral port for UDP and TCP', async () => {
    const t = await listen();
    expect(t.local.port).toBeGreaterThan(0);
    expect(t.protocols).toEqual(['UDP', 'TCP']);
    const conn = net.connect(t.local.port, '127.0.0.1');
    await new Promise((r) => conn.once('connect', r));
    conn.destroy();
  });

  it('stamps received and rport on the top Via (§18.2.1, RFC 3581) and answers to rport over UDP (§18.2.2)', async () => {
    const t = await listen();
    const peer = await udpPeer();
    const got = nextMessage(t);
    // sent-by names a port nobody listens on: only rport routes the response back.
    peer.socket.send(options('127.0.0.1:9', ';rport'), t.local.port, '127.0.0.1');
    const incoming = await got;
    expect(incoming.protocol).toBe('UDP');
    expect(incoming.source).toEqual({ host: '127.0.0.1', port: peer.port });
    const req = incoming.message as SipRequest;
    expect(getHeader(req, 'Via')).toBe(`SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKt1;rport=${peer.port};received=127.0.0.1`);
    await t.sendResponse(buildResponse(req, 200, undefined, [], 'x'), { protocol: 'UDP' });
    expect(await peer.next()).toMatch(/^SIP\/2.0 200 OK\r\n/);
    expect(t.stats).toMatchObject({ received: 1, sent: 1, parseErrors: 0, untrusted: 0 });
  });

  it('adds received only when the sent-by host differs, and routes to the sent-by port without rport', async () => {
    const req = parseMessage(Buffer.from(options('pbx.example.com:5070'))) as SipRequest;
    expect(stampReceived(req, { host: '10.1.1.1', port: 4000 })).toBe(true);
    expect(getHeader(req, 'Via')).toBe('SIP/2.0/UDP pbx.example.com:5070;branch=z9hG4bKt1;received=10.1.1.1');
    const same = parseMessage(Buffer.from(options('10.1.1.1:5070'))) as SipRequest;
    stampReceived(same, { host: '10.1.1.1', port: 4000 });
    expect(getHeader(same, 'Via')).toBe('SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bKt1');
    const multi = parseMessage(Buffer.from(options('10.1.1.1:5070', ';rport, SIP/2.0/UDP  10.2.2.2 ; branch=z9hG4bKold'))) as SipRequest;
    stampReceived(multi, { host: '10.9.9.9', port: 4000 });
    // Only the top via-parm is rewritten; the next one stays exactly as received.
    expect(getHeader(multi, 'Via')).toBe('SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bKt1;rport=4000;received=10.9.9.9, SIP/2.0/UDP  10.2.2.2 ; branch=z9hG4bKold');
    const noVia = parseMessage(Buffer.from(options('10.1.1.1'))) as SipRequest;
    noVia.headers = noVia.headers.filter((h) => h.name !== 'Via');
    expect(stampReceived(noVia, { host: '10.9.9.9', port: 1 })).toBe(false);

    const t = await listen();
    const peer = await udpPeer();
    const got = nextMessage(t);
    peer.socket.send(options(`127.0.0.1:${peer.port}`), t.local.port, '127.0.0.1');
    const incoming = await got;
    await t.sendResponse(buildResponse(incoming.message as SipRequest, 486), { protocol: 'UDP' });
    expect(await peer.next()).toMatch(/^SIP\/2.0 486 Busy Here/);
  });

  it('answers over the TCP connection the request came on, and opens a new one once it closed', async () => {
    const t = await listen();
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    open.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
    const listenPort = (server.address() as net.AddressInfo).port;
    const viaServer = new Promise<string>((resolve) =>
      server.once('connection', (s) => s.once('data', (d) => resolve(d.toString()))),
    );

    const conn = net.connect(t.local.port, '127.0.0.1');
    await new Promise((r) => conn.once('connect', r));
    const data = new Promise<string>((r) => conn.once('data', (d) => r(d.toString())));
    const got = nextMessage(t);
    conn.write(options(`127.0.0.1:${listenPort}`).replace('UDP', 'TCP'));
    const incoming = await got;
    expect(incoming.protocol).toBe('TCP');
    expect(incoming.connectionId).toBeGreaterThan(0);
    const req = incoming.message as SipRequest;
    await t.sendResponse(buildResponse(req, 200), { protocol: 'TCP', connectionId: incoming.connectionId! });
    expect(await data).toMatch(/^SIP\/2.0 200 OK/);

    conn.destroy();
    await tick();
    expect(t.connectionCount).toBe(0);
    await t.sendResponse(buildResponse(req, 200), { protocol: 'TCP', connectionId: incoming.connectionId! });
    expect(await viaServer).toMatch(/^SIP\/2.0 200 OK/);
  });

  it('reuses a TCP connection for requests to the same peer and frames a split stream', async () => {
    const a = await listen();
    const b = await listen();
    const received: IncomingMessage[] = [];
    b.on('message', (m) => received.push(m));
    const req = parseMessage(Buffer.from(options(`127.0.0.1:${a.local.port}`).replace('UDP', 'TCP'))) as SipRequest;
    await a.sendRequest(req, { host: '127.0.0.1', port: b.local.port, protocol: 'TCP' });
    await a.sendRequest(req, { host: '127.0.0.1', port: b.local.port, protocol: 'TCP' });
    await tick();
    expect(received).toHaveLength(2);
    expect(a.connectionCount).toBe(1);

    const raw = net.connect(b.local.port, '127.0.0.1');
    await new Promise((r) => raw.once('connect', r));
    const bytes = Buffer.from(options('127.0.0.1:1').replace('UDP', 'TCP'));
    raw.write(bytes.subarray(0, 40));
    await tick(20);
    raw.write(bytes.subarray(40));
    await tick();
    expect(received).toHaveLength(3);
    raw.destroy();
  });

  it('answers a CRLFCRLF keep-alive with CRLF over TCP (RFC 5626 §3.5.1)', async () => {
    const t = await listen();
    const conn = net.connect(t.local.port, '127.0.0.1');
    await new Promise((r) => conn.once('connect', r));
    const pong = new Promise<string>((r) => conn.once('data', (d) => r(d.toString())));
    conn.write('\r\n\r\n');
    expect(await pong).toBe('\r\n');
    conn.destroy();
    expect(t.stats.received).toBe(0);
  });

  it('ignores untrusted peers without answering, over UDP and TCP', async () => {
    const t = await listen({ trustedPeers: ['127.0.0.1:1'] });
    const heard: IncomingMessage[] = [];
    t.on('message', (m) => heard.push(m));
    const peer = await udpPeer();
    peer.socket.send(options(`127.0.0.1:${peer.port}`), t.local.port, '127.0.0.1');
    await tick(100);
    expect(heard).toEqual([]);
    expect(t.stats.untrusted).toBe(1);
    expect(t.stats.received).toBe(0);

    const strict = await listen({ trustedPeers: ['10.255.255.1'] });
    const conn = net.connect(strict.local.port, '127.0.0.1');
    conn.on('error', () => {});
    const closed = new Promise((r) => conn.once('close', r));
    await closed;
    expect(strict.stats.untrusted).toBe(1);
  });

  it('trusts host-only entries on any port and resolves names', async () => {
    const t = await listen({ trustedPeers: ['localhost'] });
    const peer = await udpPeer();
    const got = nextMessage(t);
    peer.socket.send(options(`127.0.0.1:${peer.port}`), t.local.port, '127.0.0.1');
    await got;
    expect(t.stats.untrusted).toBe(0);
    await expect(SipTransport.listen({ host: '127.0.0.1', trustedPeers: ['127.0.0.1:99999'] })).rejects.toThrow(/invalid port/);
  });

  it('answers a malformed request 400 from its partial headers, a bad version 505, and drops garbage', async () => {
    const t = await listen();
    const heard: IncomingMessage[] = [];
    t.on('message', (m) => heard.push(m));
    const peer = await udpPeer();
    const send = (text: string | Buffer): void => void peer.socket.send(text, t.local.port, '127.0.0.1');
    send(options(`127.0.0.1:${peer.port}`).replace('CSeq: 1 OPTIONS', 'CSeq: 1 OPTIONS\r\nContent-Length: x'));
    const bad = parseMessage(Buffer.from(await peer.next())) as SipResponse;
    expect(bad.status).toBe(400);
    expect(bad.reason).toMatch(/^Bad Request/);
    expect(getHeader(bad, 'Call-ID')).toBe('tc1');
    send(options(`127.0.0.1:${peer.port}`).replace('OPTIONS sip:daemon@127.0.0.1 SIP/2.0', 'OPTIONS sip:daemon@127.0.0.1 SIP/7.0'));
    expect((parseMessage(Buffer.from(await peer.next())) as SipResponse).status).toBe(505);
    send(Buffer.from([0xff, 0x00, 0x13, 0x37]));
    send('this is not SIP\r\n\r\n');
    send('\r\n\r\n');
    await tick(100);
    expect(heard).toEqual([]);
    expect(t.stats).toMatchObject({ received: 4, parseErrors: 4, sent: 2 });
  });

  it('drops a TCP connection whose framing is lost', async () => {
    const t = await listen();
    const conn = net.connect(t.local.port, '127.0.0.1');
    await new Promise((r) => conn.once('connect', r));
    const closed = new Promise((r) => conn.once('close', r));
    conn.write('OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: -5\r\n\r\n');
    await closed;
    expect(t.stats.parseErrors).toBe(1);
  });

  it('contains exceptions of the message handler (counted as dropped)', async () => {
    const t = await listen();
    t.on('message', () => {
      throw new Error('handler bug');
    });
    const peer = await udpPeer();
    peer.socket.send(options(`127.0.0.1:${peer.port}`), t.local.port, '127.0.0.1');
    await tick(100);
    expect(t.stats.dropped).toBe(1);
  });

  it('fails sends cleanly: no TCP listener, closed transport, responses without Via', async () => {
    const t = await listen();
    const req = parseMessage(Buffer.from(options('127.0.0.1:1'))) as SipRequest;
    await expect(t.sendRequest(req, { host: '127.0.0.1', port: 1, protocol: 'TCP' })).rejects.toThrow(/ECONNREFUSED/);
    const noVia = buildResponse({ headers: [] }, 200);
    await expect(t.sendResponse(noVia, { protocol: 'UDP' })).rejects.toThrow(/no top Via/);
    await t.close();
    await expect(t.sendRequest(req, { host: '127.0.0.1', port: 1, protocol: 'UDP' })).rejects.toThrow(/closed/);
    expect(serializeMessage(req).length).toBeGreaterThan(0);
  });
});
