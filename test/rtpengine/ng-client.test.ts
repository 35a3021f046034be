/**
 * NgClient against a fake NG server on loopback UDP: wire format, cookie matching (out of order,
 * late duplicates), retries with the same cookie, timeouts, garbage datagrams ignored, the
 * in-flight bound and queue, close(), typed commands with exact NG keys, and reply parsing.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { decode, encode, type BencodeDict } from '../../src/rtpengine/bencode.js';
import { NgClient, type NgClientOptions } from '../../src/rtpengine/ng-client.js';
import { NgClosedError, NgMalformedReplyError, NgProtocolError, NgTimeoutError } from '../../src/rtpengine/ng-errors.js';

interface Received {
  cookie: string;
  dict: BencodeDict;
  raw: Buffer;
  reply: (body: BencodeDict | Buffer | string, cookie?: string) => void;
  /** Send these exact bytes back to the client. */
  sendRaw: (datagram: Buffer) => void;
}

/** A UDP server that records every datagram and lets each test decide when and what to answer. */
class FakeNg {
  readonly received: Received[] = [];
  handler: (r: Received) => void = (r) => r.reply({ result: 'ok' });
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (raw, rinfo) => {
      const sp = raw.indexOf(0x20);
      const cookie = raw.toString('latin1', 0, sp);
      const sendRaw = (datagram: Buffer) => socket.send(datagram, rinfo.port, rinfo.address);
      const reply = (body: BencodeDict | Buffer | string, c = cookie) => {
        const payload = typeof body === 'string' ? Buffer.from(body, 'latin1') : Buffer.isBuffer(body) ? body : encode(body);
        sendRaw(Buffer.concat([Buffer.from(`${c} `), payload]));
      };
      const r = { cookie, dict: decode(raw.subarray(sp + 1)) as BencodeDict, raw, reply, sendRaw };
      this.received.push(r);
      this.handler(r);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async start(): Promise<FakeNg> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return new FakeNg(s);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Resolve once at least `n` datagrams have arrived. */
  async waitFor(n: number): Promise<void> {
    while (this.received.length < n) await new Promise<void>((r) => this.waiters.push(r));
  }

  close(): void {
    this.socket.close();
  }
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(options: Partial<NgClientOptions> = {}): Promise<{ server: FakeNg; client: NgClient }> {
  const server = await FakeNg.start();
  const client = new NgClient({ host: '127.0.0.1', port: server.port, timeoutMs: 200, ...options });
  cleanups.push(() => server.close(), () => client.close());
  return { server, client };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('wire format and cookies', () => {
  it('sends COOKIE SP bencode(dict) with the command key and resolves on pong', async () => {
    const { server, client } = await setup();
    server.handler = (r) => r.reply({ result: 'pong' });
    await client.ping();
    const [r] = server.received;
    expect(r!.raw.toString('latin1')).toMatch(/^[0-9a-f]{12}_0 d7:command4:pinge$/);
  });

  it('gives every request a fresh cookie, unique across clients', async () => {
    const { server, client } = await setup();
    const other = new NgClient({ host: '127.0.0.1', port: server.port });
    cleanups.push(() => other.close());
    await Promise.all([client.request('list'), client.request('list'), other.request('list')]);
    const cookies = server.received.map((r) => r.cookie);
    expect(new Set(cookies).size).toBe(3);
    expect(new Set(cookies.map((c) => c.split('_')[0])).size).toBe(2);
  });

  it('matches out-of-order replies by cookie', async () => {
    const { server, client } = await setup();
    server.handler = () => undefined;
    const calls = ['a', 'b', 'c'].map((id) => client.request('query', { 'call-id': id }));
    await server.waitFor(3);
    for (const r of [...server.received].reverse()) r.reply({ result: 'ok', echo: r.dict['call-id'] });
    const replies = await Promise.all(calls);
    expect(replies.map((r) => r.echo)).toEqual(['a', 'b', 'c']);
  });

  it('ignores garbage datagrams, unknown cookies and late duplicates', async () => {
    const { server, client } = await setup();
    server.handler = (r) => {
      r.reply('garbage', 'unknown');
      r.reply({ result: 'ok', from: 'stranger' }, 'not-our-cookie');
      r.reply('\x00\xff\x00', 'x');
      r.sendRaw(Buffer.from([0xff, 0xfe]));
      r.reply({ result: 'ok', n: 1 });
      r.reply({ result: 'ok', n: 2 }); // duplicate: the request is already done
    };
    const reply = await client.request('list');
    expect(reply.n).toBe(1);
    await sleep(50);
    expect(client.stats.ignored).toBeGreaterThanOrEqual(4);
    // Still healthy afterwards.
    server.handler = (r) => r.reply({ result: 'ok', n: 3 });
    expect((await client.request('list')).n).toBe(3);
  });

  it('ignores an empty datagram, a lone space, and a cookie without a space', async () => {
    const { server, client } = await setup();
    server.handler = (r) => {
      r.sendRaw(Buffer.from(' '));
      r.sendRaw(Buffer.from(r.cookie)); // our cookie, but no space and no body
      r.sendRaw(Buffer.alloc(0));
      setTimeout(() => r.reply({ result: 'ok' }), 30);
    };
    await expect(client.request('list')).resolves.toEqual({ result: 'ok' });
    expect(client.stats.ignored).toBe(3);
  });
});

describe('retries and timeouts', () => {
  it('resends the identical datagram (same cookie) until a reply comes', async () => {
    const { server, client } = await setup({ timeoutMs: 100, retries: 3 });
    server.handler = (r) => {
      if (server.received.length === 3) r.reply({ result: 'ok' });
    };
    await client.request('offer', { 'call-id': 'x' });
    expect(server.received).toHaveLength(3);
    expect(new Set(server.received.map((r) => r.raw.toString('latin1'))).size).toBe(1);
    expect(client.stats).toEqual({ sent: 3, retransmits: 2, ignored: 0 });
  });

  it('fails with NgTimeoutError after retries + 1 attempts of timeoutMs each', async () => {
    const { server, client } = await setup({ timeoutMs: 40, retries: 2 });
    server.handler = () => undefined;
    const t0 = Date.now();
    const err = await client.request('ping').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NgTimeoutError);
    expect(err).toMatchObject({ code: 'NG_TIMEOUT', command: 'ping', attempts: 3, timeoutMs: 40, target: `127.0.0.1:${server.port}` });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(115);
    expect(server.received).toHaveLength(3);
  });

  it('honours per-request timeout and retries', async () => {
    const { server, client } = await setup({ timeoutMs: 5000, retries: 5 });
    server.handler = () => undefined;
    await expect(client.request('ping', {}, { timeoutMs: 20, retries: 0 })).rejects.toMatchObject({ attempts: 1, timeoutMs: 20 });
    expect(server.received).toHaveLength(1);
  });

  it('times out, noting ECONNREFUSED, when nothing listens on the port', async () => {
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
    const port = probe.address().port;
    await new Promise<void>((r) => probe.close(() => r()));
    const client = new NgClient({ host: '127.0.0.1', port, timeoutMs: 30, retries: 1 });
    cleanups.push(() => client.close());
    const err = (await client.ping().catch((e: unknown) => e)) as NgTimeoutError;
    expect(err).toBeInstanceOf(NgTimeoutError);
    expect(err.hint).toContain(`--listen-ng=127.0.0.1:${port}`);
    // Linux reports the ICMP port-unreachable on a connected UDP socket.
    expect(err.lastSocketError).toBe('ECONNREFUSED');
    expect(err.message).toContain('last socket error ECONNREFUSED');
  });
});

describe('results and errors', () => {
  it('turns result: error into NgProtocolError with the error-reason', async () => {
    const { server, client } = await setup();
    server.handler = (r) => r.reply({ result: 'error', 'error-reason': 'Unknown call-id' });
    const err = await client.query({ callId: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NgProtocolError);
    expect(err).toMatchObject({ code: 'NG_ERROR', command: 'query', errorReason: 'Unknown call-id', message: "rtpengine rejected 'query': Unknown call-id" });
  });

  it('treats other results (load limit) as NgProtocolError too', async () => {
    const { server, client } = await setup();
    server.handler = (r) => r.reply({ result: 'load limit', message: 'too busy' });
    await expect(client.offer({ callId: 'x', fromTag: 'f', sdp: 'v=0' })).rejects.toMatchObject({ result: 'load limit', errorReason: 'too busy' });
  });

  it.each([
    ['not bencode', 'garbage'],
    ['a list', 'le'],
    ['no result key', 'd3:sdp1:xe'],
    ['a non-string result', 'd6:resulti1ee'],
    ['truncated', 'd6:result2:o'],
  ])('rejects a reply under our cookie that is %s with NgMalformedReplyError', async (_name, body) => {
    const { server, client } = await setup();
    server.handler = (r) => r.reply(body);
    const err = await client.request('list').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NgMalformedReplyError);
    expect(err).toMatchObject({ code: 'NG_BAD_REPLY', command: 'list' });
  });

  it('requires pong for ping and an sdp for offer', async () => {
    const { server, client } = await setup();
    server.handler = (r) => r.reply({ result: 'ok' });
    await expect(client.ping()).rejects.toBeInstanceOf(NgMalformedReplyError);
    await expect(client.offer({ callId: 'x', fromTag: 'f', sdp: 'v=0' })).rejects.toThrow(/no "sdp" string/);
  });

  it('refuses a request larger than one UDP datagram', async () => {
    const { server, client } = await setup();
    await expect(client.request('offer', { sdp: 'x'.repeat(70_000) })).rejects.toMatchObject({ code: 'NG_TOO_LARGE' });
    expect(server.received).toHaveLength(0);
  });
});

describe('in-flight bound, queue and close', () => {
  it('keeps at most maxInFlight requests outstanding and queues the rest in order', async () => {
    const { server, client } = await setup({ maxInFlight: 2 });
    server.handler = () => undefined;
    const all = [1, 2, 3, 4, 5].map((i) => client.request('query', { 'call-id': String(i) }));
    await server.waitFor(2);
    await sleep(30);
    expect(server.received).toHaveLength(2);
    server.received[1]!.reply({ result: 'ok' });
    await server.waitFor(3);
    await sleep(30);
    expect(server.received).toHaveLength(3);
    server.handler = (r) => r.reply({ result: 'ok' });
    for (const r of [server.received[0]!, server.received[2]!]) r.reply({ result: 'ok' });
    await Promise.all(all);
    expect(server.received.map((r) => r.dict['call-id'])).toEqual(['1', '2', '3', '4', '5']);
  });

  it('rejects options that could never complete a request', () => {
    for (const bad of [{ maxInFlight: 0 }, { timeoutMs: 0 }, { retries: -1 }, { maxQueued: -1 }, { timeoutMs: Number.NaN }]) {
      expect(() => new NgClient({ host: '127.0.0.1', port: 1, ...bad })).toThrow(TypeError);
    }
  });

  it('fails with NG_BUSY when the queue is full', async () => {
    const { server, client } = await setup({ maxInFlight: 1, maxQueued: 1 });
    server.handler = () => undefined;
    const first = client.request('list').catch((e: unknown) => e);
    const second = client.request('list').catch((e: unknown) => e);
    await expect(client.request('list')).rejects.toMatchObject({ code: 'NG_BUSY' });
    await client.close();
    expect(await first).toBeInstanceOf(NgClosedError);
    expect(await second).toBeInstanceOf(NgClosedError);
  });

  it('close() rejects pending requests, and later requests, with NgClosedError', async () => {
    const { server, client } = await setup({ timeoutMs: 10_000 });
    server.handler = () => undefined;
    const pending = client.request('offer').catch((e: unknown) => e);
    await server.waitFor(1);
    await client.close();
    await client.close(); // idempotent
    expect(await pending).toMatchObject({ name: 'NgClosedError', code: 'NG_CLOSED', command: 'offer' });
    await expect(client.ping()).rejects.toBeInstanceOf(NgClosedError);
  });
});

describe('typed commands use the NG keys exactly', () => {
  it('offer and answer', async () => {
    const { server, client } = await setup();
    server.handler = (r) => r.reply({ result: 'ok', sdp: `rewritten ${String(r.dict.command)}`, warning: 'w' });
    const leg = { callId: 'cid', fromTag: 'ft', viaBranch: 'z9hG4bK1' };
    const offered = await client.offer({
      ...leg,
      sdp: 'v=0\r\n',
      flags: ['trust-address'],
      replace: ['origin', 'session-connection'],
      ice: 'remove',
      transportProtocol: 'RTP/AVP',
      direction: ['pub', 'priv'],
      codec: { transcode: ['PCMU'], strip: ['opus'] },
      rtcpMux: ['demux'],
      receivedFrom: ['IP4', '192.0.2.1'],
      mediaAddress: '192.0.2.2',
      addressFamily: 'IP4',
      sdes: ['off'],
      dtls: 'off',
      ptime: 20,
      label: 'caller',
      recordCall: 'no',
      extra: { 'media-echo': 'blackhole', ICE: 'force' },
    });
    expect(offered).toEqual({ sdp: 'rewritten offer', warning: 'w' });
    expect(server.received[0]!.dict).toEqual({
      command: 'offer',
      'call-id': 'cid',
      'from-tag': 'ft',
      'via-branch': 'z9hG4bK1',
      sdp: 'v=0\r\n',
      flags: ['trust-address'],
      replace: ['origin', 'session-connection'],
      ICE: 'remove',
      'transport-protocol': 'RTP/AVP',
      direction: ['pub', 'priv'],
      codec: { transcode: ['PCMU'], strip: ['opus'] },
      'rtcp-mux': ['demux'],
      'received-from': ['IP4', '192.0.2.1'],
      'media-address': '192.0.2.2',
      'address-family': 'IP4',
      SDES: ['off'],
      DTLS: 'off',
      ptime: 20,
      label: 'caller',
      'record-call': 'no',
      'media-echo': 'blackhole',
    });
    await client.offer({ callId: 'cid', fromTag: 'ft', sdp: 'v=0\r\n', extra: { ptime: 30, 'DTLS-fingerprint': 'SHA-256' } });
    expect(server.received[1]!.dict).toMatchObject({ ptime: 30, 'DTLS-fingerprint': 'SHA-256' });
    await client.answer({ callId: 'cid', fromTag: 'ft', toTag: 'tt', sdp: 'v=0\r\n' });
    expect(server.received[2]!.dict).toEqual({ command: 'answer', 'call-id': 'cid', 'from-tag': 'ft', 'to-tag': 'tt', sdp: 'v=0\r\n' });
  });

  it('delete, list, play media, stop media, block/unblock media', async () => {
    const { server, client } = await setup();
    const replies: Record<string, BencodeDict> = {
      delete: { warning: "Call-ID not found or tags didn't match", result: 'ok' },
      list: { calls: ['a', 'b'], result: 'ok' },
      'play media': { duration: 1500, result: 'ok' },
      'stop media': { 'last-frame-pos': 42, result: 'ok' },
    };
    server.handler = (r) => r.reply(replies[String(r.dict.command)] ?? { result: 'ok' });
    const sent = () => server.received.at(-1)!.dict;

    expect(await client.delete({ callId: 'c', fromTag: 'f', fatal: true, deleteDelaySec: 0 })).toEqual({ warning: "Call-ID not found or tags didn't match" });
    expect(sent()).toEqual({ command: 'delete', 'call-id': 'c', 'from-tag': 'f', flags: ['fatal'], 'delete-delay': 0 });

    expect(await client.list({ limit: 5 })).toEqual(['a', 'b']);
    expect(sent()).toEqual({ command: 'list', limit: 5 });

    const blob = Buffer.from([0x52, 0x49, 0x46, 0x46, 0xff, 0x00]);
    expect(await client.playMedia({ callId: 'c', fromTag: 'f', blob, repeatTimes: 2 })).toEqual({ durationMs: 1500 });
    expect(sent()).toEqual({ command: 'play media', 'call-id': 'c', 'from-tag': 'f', blob, 'repeat-times': 2 });
    await client.playMedia({ callId: 'c', label: 'caller', file: '/p.wav', startPos: 10 });
    expect(sent()).toEqual({ command: 'play media', 'call-id': 'c', label: 'caller', file: '/p.wav', 'start-pos': 10 });
    await client.playMedia({ callId: 'c', all: true, dbId: 7 });
    expect(sent()).toEqual({ command: 'play media', 'call-id': 'c', flags: ['all'], 'db-id': 7 });

    expect(await client.stopMedia({ callId: 'c', fromTag: 'f' })).toEqual({ lastFramePos: 42 });
    expect(sent()).toEqual({ command: 'stop media', 'call-id': 'c', 'from-tag': 'f' });
    expect(await client.blockMedia({ callId: 'c', fromTag: 'f', toTag: 't' })).toEqual({});
    expect(sent()).toEqual({ command: 'block media', 'call-id': 'c', 'from-tag': 'f', 'to-tag': 't' });
    expect(await client.unblockMedia({ callId: 'c', address: '192.0.2.9' })).toEqual({});
    expect(sent()).toEqual({ command: 'unblock media', 'call-id': 'c', address: '192.0.2.9' });
  });

  it('playMedia needs exactly one source', async () => {
    const { client } = await setup();
    await expect(client.playMedia({ callId: 'c', fromTag: 'f' } as never)).rejects.toThrow(TypeError);
    await expect(client.playMedia({ callId: 'c', fromTag: 'f', file: 'a', blob: Buffer.alloc(1) } as never)).rejects.toThrow(/exactly one/);
  });

  it('parses a query reply (rtpengine 10.5 shape) into tags, medias, streams and totals', async () => {
    const { server, client } = await setup();
    const streamDict = (port: number, kind: string, packets: number) => ({
      'local port': port,
      'local address': '127.0.0.1',
      family: 'IPv4',
      endpoint: { family: 'IPv4', address: '127.0.0.1', port: 40000 },
      'advertised endpoint': { family: 'IPv4', address: '127.0.0.1', port: 40000 },
      'last packet': 1795279642,
      flags: [kind, 'filled'],
      stats: { packets, bytes: packets * 172, errors: 0 },
    });
    server.handler = (r) =>
      r.reply({
        created: 1795279642,
        created_us: 400068,
        'last signal': 1795279643,
        SSRC: {},
        tags: {
          ft: {
            tag: 'ft',
            created: 1795279642,
            'in dialogue with': 'tt',
            medias: [{ index: 1, type: 'audio', protocol: 'RTP/AVP', streams: [streamDict(43012, 'RTP', 5), streamDict(43013, 'RTCP', 0)], flags: ['initialized', 'send', 'recv'] }],
          },
          tt: { tag: 'tt', medias: [] },
          '': { tag: '', medias: 'not a list' },
        },
        totals: { RTP: { packets: 5, bytes: 860, errors: 0 }, RTCP: { packets: 0, bytes: 0, errors: 0 } },
        result: 'ok',
      });
    const q = await client.query({ callId: 'c', fromTag: 'ft' });
    expect(server.received[0]!.dict).toEqual({ command: 'query', 'call-id': 'c', 'from-tag': 'ft' });
    expect(q.created).toBe(1795279642);
    expect(q.lastSignal).toBe(1795279643);
    expect(q.totals).toEqual({ rtp: { packets: 5, bytes: 860, errors: 0 }, rtcp: { packets: 0, bytes: 0, errors: 0 } });
    expect(q.tags.map((t) => t.tag).sort()).toEqual(['', 'ft', 'tt']);
    const ft = q.tags.find((t) => t.tag === 'ft')!;
    expect(ft).toMatchObject({ tag: 'ft', created: 1795279642, inDialogueWith: 'tt' });
    expect(ft.medias[0]).toMatchObject({ index: 1, type: 'audio', protocol: 'RTP/AVP', flags: ['initialized', 'send', 'recv'] });
    expect(ft.medias[0]!.streams[0]).toEqual({
      localPort: 43012,
      localAddress: '127.0.0.1',
      endpoint: { family: 'IPv4', address: '127.0.0.1', port: 40000 },
      advertisedEndpoint: { family: 'IPv4', address: '127.0.0.1', port: 40000 },
      lastPacket: 1795279642,
      flags: ['RTP', 'filled'],
      stats: { packets: 5, bytes: 860, errors: 0 },
    });
    expect(q.tags.find((t) => t.tag === '')!.medias).toEqual([]);
    expect(q.raw.created_us).toBe(400068);
  });

  it('attaches final statistics to a delete reply that carries them', async () => {
    const { server, client } = await setup();
    server.handler = (r) => r.reply({ created: 1, tags: {}, totals: { RTP: { packets: 9, bytes: 90, errors: 1 } }, result: 'ok' });
    const d = await client.delete({ callId: 'c' });
    expect(d.stats?.totals.rtp).toEqual({ packets: 9, bytes: 90, errors: 1 });
    expect(d.stats?.totals.rtcp).toEqual({ packets: 0, bytes: 0, errors: 0 });
  });
});
