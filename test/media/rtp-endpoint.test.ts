/**
 * The daemon's RTP endpoint (src/media/rtp-endpoint.ts): RFC 3550 header parsing (CSRC,
 * extension, padding), RFC 4733 digit detection from crafted packets (redundant end packets,
 * lost start and lost end packets), the port pool (even ports, round robin, busy ports, no leaks),
 * counters over real UDP, and the DTMF log listener.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DtmfDetector,
  DtmfLogListener,
  RtpPortPool,
  RtpPortsExhaustedError,
  parseRtp,
  parseTelephoneEvent,
  type DtmfEvent,
  type LoggedDtmfEvent,
  type RtpPacket,
} from '../../src/media/rtp-endpoint.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Header {
  pt?: number;
  seq?: number;
  ts?: number;
  ssrc?: number;
  marker?: boolean;
  csrcs?: number[];
  extension?: Buffer;
  padding?: number;
}

/** Build an RTP packet (RFC 3550 §5.1). */
function rtp(payload: Buffer, h: Header = {}): Buffer {
  const csrcs = h.csrcs ?? [];
  const head = Buffer.alloc(12 + 4 * csrcs.length);
  head[0] = 0x80 | (h.padding ? 0x20 : 0) | (h.extension ? 0x10 : 0) | csrcs.length;
  head[1] = (h.marker ? 0x80 : 0) | (h.pt ?? 0);
  head.writeUInt16BE(h.seq ?? 1, 2);
  head.writeUInt32BE(h.ts ?? 0, 4);
  head.writeUInt32BE(h.ssrc ?? 0x1234, 8);
  csrcs.forEach((c, i) => head.writeUInt32BE(c, 12 + 4 * i));
  const ext = h.extension ? Buffer.concat([Buffer.from([0xbe, 0xde, 0, h.extension.length / 4]), h.extension]) : Buffer.alloc(0);
  const pad = h.padding ? Buffer.concat([Buffer.alloc(h.padding - 1), Buffer.from([h.padding])]) : Buffer.alloc(0);
  return Buffer.concat([head, ext, payload, pad]);
}

/** RFC 4733 §2.3 payload: event, E bit, volume 10, duration in samples. */
const te = (event: number, end: boolean, duration: number) => Buffer.from([event, (end ? 0x80 : 0) | 10, duration >> 8, duration & 0xff]);
const tePacket = (event: number, end: boolean, duration: number, ts: number, seq: number, ssrc = 0x1234): RtpPacket =>
  parseRtp(rtp(te(event, end, duration), { pt: 101, ts, seq, ssrc }))!;

/** Packets of one digit: start (marker), `updates` updates, then three identical end packets. */
function digitPackets(event: number, ts: number, seq0: number, updates = 3): RtpPacket[] {
  const out: RtpPacket[] = [];
  for (let i = 0; i <= updates; i++) out.push(tePacket(event, false, (i + 1) * 160, ts, seq0 + i));
  for (let i = 0; i < 3; i++) out.push(tePacket(event, true, (updates + 2) * 160, ts, seq0 + updates + 1 + i));
  return out;
}

describe('parseRtp (RFC 3550 §5.1)', () => {
  it('parses the fixed header', () => {
    const p = parseRtp(rtp(Buffer.from([1, 2, 3]), { pt: 8, seq: 65535, ts: 0xfffffff0, ssrc: 0xdeadbeef, marker: true }))!;
    expect(p).toMatchObject({ payloadType: 8, marker: true, sequence: 65535, timestamp: 0xfffffff0, ssrc: 0xdeadbeef, csrcs: [] });
    expect([...p.payload]).toEqual([1, 2, 3]);
    expect(p.extension).toBeUndefined();
  });

  it('skips CSRCs, the header extension (§5.3.1) and padding', () => {
    const p = parseRtp(rtp(Buffer.from([9, 9]), { csrcs: [1, 2], extension: Buffer.from([0x10, 0xaa, 0, 0]), padding: 4 }))!;
    expect(p.csrcs).toEqual([1, 2]);
    expect(p.extension).toEqual({ profile: 0xbede, data: Buffer.from([0x10, 0xaa, 0, 0]) });
    expect([...p.payload]).toEqual([9, 9]);
  });

  it.each([
    ['shorter than 12 bytes', Buffer.alloc(11, 0x80)],
    ['version 1', Buffer.concat([Buffer.from([0x40]), Buffer.alloc(11)])],
    ['CSRCs past the end', Buffer.concat([Buffer.from([0x83]), Buffer.alloc(11)])],
    ['an extension header past the end', Buffer.concat([Buffer.from([0x90]), Buffer.alloc(13)])],
    ['extension data past the end', Buffer.concat([Buffer.from([0x90]), Buffer.alloc(11), Buffer.from([0xbe, 0xde, 0, 2, 1, 2, 3, 4])])],
    ['padding longer than the payload', Buffer.concat([Buffer.from([0xa0]), Buffer.alloc(11), Buffer.from([1, 9])])],
    ['a zero padding count', Buffer.concat([Buffer.from([0xa0]), Buffer.alloc(11), Buffer.from([1, 0])])],
  ])('rejects %s', (_name, buf) => {
    expect(parseRtp(buf)).toBeUndefined();
  });

  it('reads the telephone-event payload (RFC 4733 §2.3)', () => {
    expect(parseTelephoneEvent(te(11, true, 1280))).toEqual({ event: 11, end: true, volume: 10, duration: 1280 });
    expect(parseTelephoneEvent(Buffer.alloc(3))).toBeUndefined();
  });
});

describe('DtmfDetector (RFC 4733 §2.5)', () => {
  const detect = (options = {}) => {
    const digits: DtmfEvent[] = [];
    const d = new DtmfDetector((e) => digits.push(e), options);
    cleanups.push(() => d.dispose());
    return { d, digits };
  };

  it('reports one digit per event despite the three redundant end packets, with its duration', () => {
    const { d, digits } = detect();
    for (const p of digitPackets(5, 1000, 1)) d.push(p);
    expect(digits.map((e) => [e.digit, e.durationMs])).toEqual([['5', 100]]);
    expect(digits[0]!.at).toBeGreaterThan(1_600_000_000_000);
  });

  it('reports a digit whose start packet was lost', () => {
    const { d, digits } = detect();
    for (const p of digitPackets(9, 1000, 1).slice(1)) d.push(p);
    expect(digits.map((e) => e.digit)).toEqual(['9']);
  });

  it('reports the same digit twice when pressed twice (new timestamps), and maps * # A-D', () => {
    const { d, digits } = detect();
    const events = [1, 1, 10, 11, 12, 15];
    events.forEach((ev, i) => digitPackets(ev, 1000 + i * 2000, 1 + i * 10).forEach((p) => d.push(p)));
    expect(digits.map((e) => e.digit).join('')).toBe('11*#AD');
  });

  it('ignores late retransmits of a reported event and events above 15 (flash)', () => {
    const { d, digits } = detect();
    const packets = digitPackets(3, 1000, 1);
    packets.forEach((p) => d.push(p));
    d.push(packets.at(-1)!);
    d.push(packets[0]!);
    digitPackets(16, 5000, 20).forEach((p) => d.push(p));
    expect(digits.map((e) => e.digit)).toEqual(['3']);
  });

  it('reports an event whose end packets were all lost: on the next event, or after endTimeoutMs', () => {
    vi.useFakeTimers();
    const { d, digits } = detect({ endTimeoutMs: 300 });
    digitPackets(4, 1000, 1).slice(0, 4).forEach((p) => d.push(p)); // no end packets
    expect(digits).toHaveLength(0);
    digitPackets(6, 3000, 10).slice(0, 2).forEach((p) => d.push(p));
    expect(digits.map((e) => [e.digit, e.durationMs])).toEqual([['4', 80]]);
    vi.advanceTimersByTime(299);
    expect(digits).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(digits.map((e) => e.digit)).toEqual(['4', '6']);
  });

  it('keeps events of different SSRCs with the same timestamp apart, and honours the clock rate', () => {
    const { d, digits } = detect({ clockRate: 16000 });
    digitPackets(1, 1000, 1).forEach((p) => d.push(p));
    digitPackets(2, 1000, 1).forEach((p) => d.push({ ...p, ssrc: 0x9999 }));
    expect(digits.map((e) => [e.digit, e.durationMs])).toEqual([
      ['1', 50],
      ['2', 50],
    ]);
  });
});

async function sender(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  cleanups.push(() => s.close());
  return s;
}

/** A port range of this process, above the ephemeral range (32768-60999) and the rtpengine test blocks. */
function range(size: number, offset = 0) {
  const min = 63_000 + (process.pid % 50) * 40 + offset;
  return { host: '127.0.0.1', min, max: min + size - 1 };
}

describe('RtpPortPool', () => {
  it('hands out even port pairs round robin, returns them on close, and reuses them', async () => {
    const pool = new RtpPortPool(range(6));
    expect(pool.capacity).toBe(3);
    const a = await pool.open();
    const b = await pool.open();
    expect(a.port % 2).toBe(0);
    expect([b.port - a.port, a.rtcpPort - a.port]).toEqual([2, 1]);
    await a.close();
    await a.close(); // idempotent
    expect(pool.inUse).toBe(1);
    const c = await pool.open();
    expect(c.port).toBe(a.port + 4); // not the one just released
    const d = await pool.open();
    expect(d.port).toBe(a.port); // wrapped around to the free one
    await expect(pool.open()).rejects.toBeInstanceOf(RtpPortsExhaustedError);
    await Promise.all([b.close(), c.close(), d.close()]);
    expect(pool.inUse).toBe(0);
  });

  it('skips a port pair another socket holds, and reports exhaustion with code RTP_NO_PORTS', async () => {
    const r = range(4, 10);
    const squatter = dgram.createSocket('udp4');
    await new Promise<void>((res) => squatter.bind(r.min + (r.min % 2) + 1, '127.0.0.1', () => res())); // the RTCP port of the first pair
    cleanups.push(() => squatter.close());
    const pool = new RtpPortPool(r);
    const e = await pool.open();
    cleanups.push(() => e.close());
    expect(e.port).toBe(r.min + (r.min % 2) + 2);
    await expect(pool.open()).rejects.toMatchObject({ code: 'RTP_NO_PORTS' });
    expect(pool.inUse).toBe(1);
  });

  it('rejects ranges without one pair', () => {
    expect(() => new RtpPortPool({ host: '127.0.0.1', min: 40000, max: 40000 })).toThrow(TypeError);
    expect(() => new RtpPortPool({ host: '127.0.0.1', min: 80, max: 100 })).toThrow(TypeError);
  });
});

describe('RtpEndpoint over UDP', () => {
  it('counts RTP/RTCP, drops non-RTP, and emits digits of the negotiated payload type only', async () => {
    const pool = new RtpPortPool(range(2, 20));
    const ep = await pool.open();
    cleanups.push(() => ep.close());
    const digits: DtmfEvent[] = [];
    const off = ep.onDtmf((e) => digits.push(e));
    ep.setTelephoneEvent(96);
    const s = await sender();
    const send = (b: Buffer, port = ep.port) => new Promise<void>((r) => s.send(b, port, '127.0.0.1', () => r()));
    await send(rtp(Buffer.alloc(160, 0xff), { pt: 0, seq: 1 }));
    await send(Buffer.from('not rtp'));
    await send(Buffer.alloc(8), ep.rtcpPort);
    for (const p of digitPackets(7, 160, 2)) await send(rtp(te(7, parseTelephoneEvent(p.payload)!.end, parseTelephoneEvent(p.payload)!.duration), { pt: 96, ts: 160, seq: p.sequence }));
    await send(rtp(te(8, true, 800), { pt: 101, ts: 9999, seq: 20 })); // not the negotiated PT
    await expect.poll(() => ep.stats.packets, { timeout: 1000 }).toBe(9);
    expect(digits.map((d) => d.digit)).toEqual(['7']);
    expect(ep.stats).toMatchObject({ invalid: 1, rtcpPackets: 1, dtmfPackets: 7, bytes: 172 + 7 * 16 + 16, lastSource: `127.0.0.1:${s.address().port}` });
    off();
    ep.setTelephoneEvent(undefined);
    await send(rtp(te(1, true, 800), { pt: 96, ts: 50000, seq: 30 }));
    await expect.poll(() => ep.stats.packets, { timeout: 1000 }).toBe(10);
    expect(digits).toHaveLength(1);
  });
});

describe('DtmfLogListener', () => {
  it("parses rtpengine's --dtmf-log-dest JSON, filters by call and tag, and ignores anything else", async () => {
    const log = await DtmfLogListener.open('127.0.0.1');
    cleanups.push(() => log.close());
    const all: LoggedDtmfEvent[] = [];
    const mine: LoggedDtmfEvent[] = [];
    log.onDtmf((e) => all.push(e));
    log.onDtmf((e) => mine.push(e), { callId: 'c1', sourceTag: 'a' });
    const s = await sender();
    const send = (v: unknown) => new Promise<void>((r) => s.send(typeof v === 'string' ? v : JSON.stringify(v), log.port, '127.0.0.1', () => r()));
    const entry = { callid: 'c1', source_tag: 'a', tags: ['a', 'b'], type: 'DTMF', timestamp: 1795289250, source_ip: '127.0.0.1', event: 11, duration: 120, volume: 10 };
    await send(entry);
    await send({ ...entry, source_tag: 'b', event: 0 });
    await send({ ...entry, callid: 'c2', event: 12 });
    for (const junk of ['{', 'null', '42', { ...entry, type: 'other' }, { ...entry, event: 16 }, { ...entry, callid: 5 }]) await send(junk);
    await expect.poll(() => log.ignored, { timeout: 1000 }).toBe(6);
    expect(all.map((e) => `${e.callId}/${e.sourceTag}/${e.digit}`)).toEqual(['c1/a/#', 'c1/b/0', 'c2/a/A']);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ digit: '#', durationMs: 120, callId: 'c1', sourceTag: 'a', tags: ['a', 'b'], sourceIp: '127.0.0.1', volume: 10 });
  });
});
