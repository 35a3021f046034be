/**
 * MediaSession against a real rtpengine 10.5 (userspace, loopback), with plain UDP sockets as the
 * caller and callees sending real PCMU RTP and RFC 4733 events: DTMF reaching the daemon's endpoint,
 * play media reaching the caller, bridges (one callee, a forked offer to two), returning to the
 * endpoint, destroy (also mid-play / mid-bridge), RTPengine not answering, and the NG commands
 * added for the media layer (block/unblock DTMF, play DTMF, statistics). A last block scripts the
 * NG replies to reach what real rtpengine does not produce on loopback (a caller re-INVITE) and to
 * check serialization and abort. Fails (never skips) when rtpengine is not installed.
 */
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MediaSession, type MediaNg } from '../../src/media/media-session.js';
import { DtmfLogListener, RtpPortPool, type DtmfEvent, type LoggedDtmfEvent } from '../../src/media/rtp-endpoint.js';
import { NgClient } from '../../src/rtpengine/ng-client.js';
import { parseQuery } from '../../src/rtpengine/ng-types.js';
import { startRtpengine, type RtpengineProcess } from '../rtpengine/rtpengine-process.js';
import { toneWav } from '../support/wav.js';

let rtp: RtpengineProcess;
let ng: NgClient;
let pool: RtpPortPool;
let dtmfLog: DtmfLogListener;
let dir: string;
let prompt: string;
const cleanups: Array<() => unknown> = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A UDP socket playing one SIP party's media, recording what arrives. */
interface Party {
  socket: dgram.Socket;
  port: number;
  received: Buffer[];
  send(packet: Buffer, port: number): void;
}

async function party(): Promise<Party> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const p: Party = { socket, port: socket.address().port, received: [], send: (b, port) => socket.send(b, port, '127.0.0.1') };
  socket.on('message', (m) => p.received.push(m));
  cleanups.push(() => socket.close());
  return p;
}

/** An SDP offer/answer (RFC 8866) from 127.0.0.1:port with these `pt name/rate` formats. */
function sdp(port: number, formats = ['0 PCMU/8000', '101 telephone-event/8000']): string {
  const lines = ['v=0', `o=- ${port} 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP ${formats.map((f) => f.split(' ')[0]).join(' ')}`];
  for (const f of formats) {
    lines.push(`a=rtpmap:${f}`);
    if (f.includes('telephone-event')) lines.push(`a=fmtp:${f.split(' ')[0]} 0-16`);
  }
  return [...lines, 'a=ptime:20', 'a=sendrecv', ''].join('\r\n');
}

const mPort = (s: string) => Number(/^m=audio (\d+) /m.exec(s)?.[1]);
const payloadTypes = (packets: Buffer[]) => new Set(packets.map((p) => p[1]! & 0x7f));

/** RFC 3550 packet: version 2, given PT/seq/timestamp/SSRC. */
function rtpPacket(pt: number, seq: number, ts: number, ssrc: number, payload: Buffer, marker = false): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = (marker ? 0x80 : 0) | pt;
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE(ts >>> 0, 4);
  h.writeUInt32BE(ssrc, 8);
  return Buffer.concat([h, payload]);
}

/** Sends 20 ms PCMU packets and RFC 4733 digits with one running sequence number and clock. */
class RtpSender {
  private seq = 1;
  private ts = 0;
  constructor(
    private readonly from: Party,
    private readonly ssrc: number,
  ) {}

  async audio(port: number, packets: number, pt = 0): Promise<void> {
    for (let i = 0; i < packets; i++) {
      this.from.send(rtpPacket(pt, this.seq++, this.ts, this.ssrc, Buffer.alloc(160, 0xff)), port);
      this.ts += 160;
      await sleep(20);
    }
  }

  /** One digit (RFC 4733 §2.5): a start packet with marker, updates every 20 ms, three end packets. */
  async digit(port: number, event: number, pt = 101, durationMs = 100): Promise<void> {
    const steps = durationMs / 20;
    const payload = (end: boolean, duration: number) => Buffer.from([event, (end ? 0x80 : 0) | 10, duration >> 8, duration & 0xff]);
    for (let i = 1; i <= steps; i++) {
      this.from.send(rtpPacket(pt, this.seq++, this.ts, this.ssrc, payload(false, i * 160), i === 1), port);
      await sleep(20);
    }
    for (let i = 0; i < 3; i++) this.from.send(rtpPacket(pt, this.seq++, this.ts, this.ssrc, payload(true, steps * 160)), port);
    this.ts += steps * 160;
    await this.audio(port, 2);
  }
}


let calls = 0;
/** A session for a caller party offering `formats`, with an endpoint from the pool. */
async function session(caller: Party, formats?: string[], extra: Partial<ConstructorParameters<typeof MediaSession>[0]> = {}) {
  const endpoint = await pool.open();
  const s = new MediaSession({ ng, callId: `ms-${process.pid}-${++calls}@test`, callerTag: 'caller-tag', callerOffer: sdp(caller.port, formats), endpoint, ...extra });
  cleanups.push(() => s.destroy().catch(() => undefined));
  const digits: DtmfEvent[] = [];
  s.onDtmf((e) => digits.push(e));
  return { s, endpoint, digits };
}

beforeAll(async () => {
  dtmfLog = await DtmfLogListener.open('127.0.0.1');
  rtp = await startRtpengine({ extraArgs: [`--dtmf-log-dest=127.0.0.1:${dtmfLog.port}`] });
  ng = rtp.client({ timeoutMs: 1000 });
  // Above the kernel's ephemeral range (32768-60999) and rtpengine-process's blocks (12000-32767).
  const base = 61_000 + (process.pid % 50) * 40;
  pool = new RtpPortPool({ host: '127.0.0.1', min: base, max: base + 39 });
  dir = mkdtempSync(join(tmpdir(), 'pbxctl-media-'));
  prompt = join(dir, 'tone.wav');
  writeFileSync(prompt, toneWav(1000));
}, 30_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  await ng?.close();
  await dtmfLog?.close();
  await rtp?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('answer and DTMF', () => {
  it("answers a caller; the caller's RFC 4733 digits reach the endpoint (and the DTMF log) once each", async () => {
    const caller = await party();
    const { s, endpoint, digits } = await session(caller);
    const logged: LoggedDtmfEvent[] = [];
    cleanups.push(dtmfLog.onDtmf((e) => logged.push(e), { callId: s.callId }));
    const answer = await s.answer();
    expect(await s.answer()).toBe(answer); // idempotent
    expect(answer).toMatch(/^m=audio \d+ RTP\/AVP 0 101\r$/m);
    expect(answer).toMatch(/^o=- \d+ 1 IN IP4 127\.0\.0\.1\r$/m);
    const toRtpengine = mPort(answer);
    const tx = new RtpSender(caller, 0xca11);
    await tx.audio(toRtpengine, 3);
    await tx.digit(toRtpengine, 1);
    await tx.digit(toRtpengine, 11, 101, 160);
    await expect.poll(() => digits.map((d) => d.digit), { timeout: 2000 }).toEqual(['1', '#']);
    expect(digits[1]!.durationMs).toBe(160);
    expect(endpoint.stats.packets).toBeGreaterThanOrEqual(5);
    await expect.poll(() => logged.map((e) => `${e.digit}:${e.sourceTag}`), { timeout: 2000 }).toEqual(['1:caller-tag', '#:caller-tag']);
    expect(caller.received).toHaveLength(0); // the endpoint never sends
  });

  it('gives the endpoint G.711 + telephone-event when the caller offers only G.722', async () => {
    const caller = await party();
    const { s, endpoint, digits } = await session(caller, ['9 G722/8000', '96 telephone-event/8000']);
    const answer = await s.answer();
    expect(answer).toMatch(/^m=audio \d+ RTP\/AVP 9 96\r$/m);
    const tx = new RtpSender(caller, 0x722);
    await tx.audio(mPort(answer), 5, 9);
    await tx.digit(mPort(answer), 5, 96);
    await expect.poll(() => digits.map((d) => d.digit), { timeout: 2000 }).toEqual(['5']);
    expect(endpoint.stats.packets).toBeGreaterThanOrEqual(5);
  });
});

describe('play', () => {
  it('plays a WAV to the caller and resolves done after its duration', async () => {
    const caller = await party();
    const { s, endpoint } = await session(caller);
    await s.answer();
    const t0 = Date.now();
    const pb = await s.play({ file: prompt });
    expect(pb.durationMs).toBe(1000);
    expect(await pb.done).toBe('finished');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    await expect.poll(() => caller.received.length, { timeout: 1000 }).toBeGreaterThanOrEqual(45);
    expect(payloadTypes(caller.received)).toEqual(new Set([0]));
    expect(endpoint.stats.packets).toBe(0); // the prompt goes to the caller only
  });

  it('stops early on stop(), on abort, and when replaced', async () => {
    const caller = await party();
    const { s } = await session(caller);
    await s.answer();
    const first = await s.play({ file: prompt }, { repeatTimes: 3 });
    expect(first.durationMs).toBe(3000);
    const second = await s.play({ blob: toneWav(2000) });
    expect(await first.done).toBe('replaced');
    await s.stop();
    expect(await second.done).toBe('stopped');
    const ac = new AbortController();
    const third = await s.play({ file: prompt }, { signal: ac.signal });
    ac.abort();
    expect(await third.done).toBe('stopped');
    await expect(s.play({ file: prompt }, { signal: ac.signal })).rejects.toBe(ac.signal.reason);
  });
});

describe('bridge', () => {
  it('connects one callee: media flows caller <-> callee, not to the endpoint; no re-INVITE', async () => {
    const [caller, callee] = [await party(), await party()];
    const { s, endpoint } = await session(caller);
    const answer = await s.answer();
    const offer = await s.offerCallee('leg-1');
    expect(offer).toMatch(/^m=audio \d+ RTP\/AVP /m);
    expect(mPort(offer)).not.toBe(mPort(answer));
    expect(await s.connectCallee('leg-1', sdp(callee.port))).toEqual({ action: 'none' });
    expect(s.daemonTag).toBeUndefined();
    const before = endpoint.stats.packets;
    await new RtpSender(caller, 0xa).audio(mPort(answer), 5);
    await new RtpSender(callee, 0xb).audio(mPort(offer), 5);
    await expect.poll(() => callee.received.length, { timeout: 1000 }).toBe(5);
    await expect.poll(() => caller.received.length, { timeout: 1000 }).toBe(5);
    expect(endpoint.stats.packets).toBe(before);
    const stats = await s.stats();
    expect(stats.parties.map((p) => `${p.role}:${p.tag}`).sort()).toEqual(['callee:leg-1', 'caller:caller-tag']);
    expect(stats.parties.find((p) => p.role === 'caller')!.packets).toBeGreaterThanOrEqual(5);
    expect(stats.totals.rtp.packets).toBeGreaterThanOrEqual(10);
  });

  it('forks to two callees; the second answers and gets the media, the first is dropped', async () => {
    const [caller, callee1, callee2] = [await party(), await party(), await party()];
    const { s, endpoint } = await session(caller, ['8 PCMA/8000', '0 PCMU/8000', '101 telephone-event/8000']);
    const answer = await s.answer();
    const [offer1, offer2] = [await s.offerCallee('leg-1'), await s.offerCallee('leg-2')];
    expect(mPort(offer1)).not.toBe(mPort(offer2));
    expect(s.pendingLegs).toEqual(['leg-1', 'leg-2']);
    // The callee picks PCMA although the caller talks PCMU to us: rtpengine transcodes, no re-INVITE.
    expect(await s.connectCallee('leg-2', sdp(callee2.port, ['8 PCMA/8000', '101 telephone-event/8000']))).toEqual({ action: 'none' });
    expect(s.pendingLegs).toEqual([]);
    expect(s.connectedLeg).toBe('leg-2');
    await new RtpSender(caller, 0xa).audio(mPort(answer), 5);
    await new RtpSender(callee2, 0xb2).audio(mPort(offer2), 5, 8);
    await new RtpSender(callee1, 0xb1).audio(mPort(offer1), 5);
    await expect.poll(() => callee2.received.length, { timeout: 1000 }).toBe(5);
    await expect.poll(() => caller.received.length, { timeout: 1000 }).toBe(5);
    await sleep(100);
    expect(payloadTypes(callee2.received)).toEqual(new Set([8]));
    expect(payloadTypes(caller.received)).toEqual(new Set([0]));
    expect(callee1.received).toHaveLength(0);
    expect(endpoint.stats.packets).toBe(0);
    expect((await s.stats()).parties.map((p) => p.tag).sort()).toEqual(['caller-tag', 'leg-2']);
    // rtpengine 10.5 still lists deleted parties (without ports) in the call and in `subscriptions`.
    const q = await ng.query({ callId: s.callId });
    expect(q.tags.find((t) => t.tag === 'caller-tag')!.subscribers).toEqual(['leg-2']);
    expect(q.tags.find((t) => t.tag === 'leg-1')?.medias[0]?.streams[0]?.localPort).toBeUndefined();
  });

  it('returns the caller to the endpoint (same port) when the callee hangs up, and when nobody answered', async () => {
    const [caller, callee] = [await party(), await party()];
    const { s, digits } = await session(caller);
    const answer = await s.answer();
    const tx = new RtpSender(caller, 0xa);
    await s.offerCallee('leg-1');
    expect(await s.releaseCallee('leg-1')).toEqual({ action: 'none' }); // nobody answered
    await tx.digit(mPort(answer), 7);
    await expect.poll(() => digits.map((d) => d.digit), { timeout: 2000 }).toEqual(['7']);
    await s.offerCallee('leg-2');
    await s.connectCallee('leg-2', sdp(callee.port));
    expect(await s.releaseCallee('leg-2')).toEqual({ action: 'none' }); // callee hung up
    expect(await s.releaseCallee('leg-2')).toEqual({ action: 'none' }); // idempotent
    expect(s.daemonTag).toMatch(/-2$/); // a fresh tag: a deleted one is never reused
    await tx.digit(mPort(answer), 9);
    await expect.poll(() => digits.map((d) => d.digit), { timeout: 2000 }).toEqual(['7', '9']);
    await expect(s.offerCallee('leg-2')).rejects.toThrow(TypeError);
    await expect(s.connectCallee('nope', sdp(callee.port))).rejects.toThrow(TypeError);
  });

  it('bridges a caller that was never answered: the callee answer becomes the 200 OK', async () => {
    const [caller, callee] = [await party(), await party()];
    const { s } = await session(caller);
    const offer = await s.offerCallee('leg-1');
    const update = await s.connectCallee('leg-1', sdp(callee.port));
    expect(update.action).toBe('answer');
    const answer = (update as { sdp: string }).sdp;
    expect(answer).toMatch(/^o=- \d+ 1 IN IP4 127\.0\.0\.1\r$/m);
    await new RtpSender(caller, 0xa).audio(mPort(answer), 3);
    await new RtpSender(callee, 0xb).audio(mPort(offer), 3);
    await expect.poll(() => [caller.received.length, callee.received.length], { timeout: 1000 }).toEqual([3, 3]);
  });
});

describe('destroy', () => {
  it('removes the call, mid-play and mid-bridge, returns the port, and is idempotent', async () => {
    const [caller, callee] = [await party(), await party()];
    const inUse = pool.inUse;
    const { s, endpoint } = await session(caller);
    expect(pool.inUse).toBe(inUse + 1);
    await s.answer();
    const pb = await s.play({ file: prompt });
    await s.offerCallee('leg-1');
    const connecting = s.connectCallee('leg-1', sdp(callee.port)); // in flight while destroying
    expect(await ng.list({ limit: 1000 })).toContain(s.callId);
    await Promise.all([s.destroy(), s.destroy()]);
    await connecting;
    expect(await pb.done).toBe('destroyed');
    expect(await ng.list({ limit: 1000 })).not.toContain(s.callId);
    expect(endpoint.closed).toBe(true);
    expect(pool.inUse).toBe(inUse);
    await expect(s.play({ file: prompt })).rejects.toMatchObject({ code: 'MEDIA_CLOSED' });
    await expect(s.destroy()).resolves.toBeUndefined();
  });

  it('fails with NgTimeoutError after retries when rtpengine does not answer, and still frees the port', async () => {
    const dead = new NgClient({ host: '127.0.0.1', port: rtp.portMax, timeoutMs: 100, retries: 1 });
    cleanups.push(() => dead.close());
    const caller = await party();
    const inUse = pool.inUse;
    const { s } = await session(caller, undefined, { ng: dead });
    await expect(s.answer()).rejects.toMatchObject({ name: 'NgTimeoutError', code: 'NG_TIMEOUT', attempts: 2 });
    await expect(s.destroy()).rejects.toMatchObject({ code: 'NG_TIMEOUT' });
    expect(pool.inUse).toBe(inUse);
  });
});

describe('NgClient media commands against rtpengine 10.5', () => {
  it('block DTMF stops digits towards the endpoint (still logged); unblock lets them through', async () => {
    const caller = await party();
    const { s, digits } = await session(caller);
    const logged: LoggedDtmfEvent[] = [];
    cleanups.push(dtmfLog.onDtmf((e) => logged.push(e), { callId: s.callId }));
    const port = mPort(await s.answer());
    const tx = new RtpSender(caller, 0xd);
    await expect(ng.blockDtmf({ callId: s.callId, fromTag: 'caller-tag' })).resolves.toEqual({});
    await tx.audio(port, 3);
    await tx.digit(port, 3);
    await expect.poll(() => logged.map((e) => e.digit), { timeout: 2000 }).toEqual(['3']);
    expect(digits).toHaveLength(0);
    await expect(ng.unblockDtmf({ callId: s.callId, fromTag: 'caller-tag' })).resolves.toEqual({});
    await tx.digit(port, 4);
    await expect.poll(() => digits.map((d) => d.digit), { timeout: 2000 }).toEqual(['4']);
  });

  it('play DTMF needs media from the selected party; statistics counts our sessions', async () => {
    const caller = await party();
    const { s } = await session(caller);
    await s.answer();
    await expect(ng.playDtmf({ callId: s.callId, fromTag: 'caller-tag', code: '7' })).rejects.toMatchObject({
      errorReason: 'No SSRC context present for DTMF injection',
    });
    const stats = await ng.statistics();
    expect(stats.current.sessionsown).toBeGreaterThanOrEqual(1);
    expect(typeof stats.total.managedsessions).toBe('number');
  });

  it('play DTMF injects RFC 4733 events into a party\'s stream when offer and answer had inject-DTMF', async () => {
    const [a, b] = [await party(), await party()];
    const callId = `inject-${process.pid}@test`;
    cleanups.push(() => ng.delete({ callId, deleteDelaySec: 0 }));
    await ng.offer({ callId, fromTag: 'a', sdp: sdp(a.port), flags: ['inject-DTMF'] });
    const answer = await ng.answer({ callId, fromTag: 'a', toTag: 'b', sdp: sdp(b.port), flags: ['inject-DTMF'] });
    const tx = new RtpSender(a, 0xa);
    await tx.audio(mPort(answer.sdp), 3);
    await expect(ng.playDtmf({ callId, fromTag: 'a', code: '#', durationMs: 100 })).resolves.toEqual({});
    await tx.audio(mPort(answer.sdp), 15);
    await expect.poll(() => [...payloadTypes(b.received)].sort(), { timeout: 1000 }).toEqual([0, 101]);
  });
});

describe('query reply fields used by stats()', () => {
  it('reads subscriptions, codec, the stream SSRC and the RTCP quality of rtpengine 10.x', () => {
    const q = parseQuery({
      SSRC: { '43690': { packets: 5, 'cumulative loss': 2, 'average MOS': { MOS: 41, 'round-trip time': 2000, jitter: 3, 'packet loss': 1, samples: 3 } }, '7': {} },
      tags: {
        a: {
          tag: 'a',
          subscriptions: [{ tag: 'b', type: 'offer/answer' }],
          subscribers: [{ tag: 'b', type: 'offer/answer' }, { type: 'x' }],
          medias: [{ index: 1, type: 'audio', codec: 'G722/8000', streams: [{ 'local port': 4000, SSRC: 43690, flags: ['RTP'], stats: { packets: 5, bytes: 860, errors: 0 } }] }],
        },
      },
      totals: {},
      result: 'ok',
    });
    const a = q.tags[0]!;
    expect([a.subscriptions, a.subscribers, a.medias[0]!.codec, a.medias[0]!.streams[0]!.ssrc]).toEqual([['b'], ['b'], 'G722/8000', 43690]);
    expect(q.ssrc).toEqual({ '43690': { packets: 5, cumulativeLoss: 2, mos: 41, jitter: 3, packetLoss: 1, roundTripUs: 2000 }, '7': {} });
  });
});

describe('with a scripted NG (no rtpengine): re-INVITEs, serialization, abort', () => {
  /** Replies like rtpengine would, with the caller's port in each `answer` reply taken from `callerPorts`. */
  function scripted(callerPorts: number[]) {
    const log: string[] = [];
    const ng = {
      offer: async (o: { toTag?: string }) => {
        log.push(`offer ${o.toTag}`);
        await sleep(20);
        return { sdp: sdp(30000) };
      },
      answer: async (o: { toTag: string }) => {
        log.push(`answer ${o.toTag}`);
        return { sdp: sdp(callerPorts.shift() ?? 40000).replace(/^o=.*$/m, 'o=- 777 1 IN IP4 127.0.0.1') };
      },
      delete: async (o: { fromTag?: string }) => (log.push(`delete ${o.fromTag ?? 'call'}`), {}),
      query: async () => parseQuery({ tags: {}, totals: {} }),
      playMedia: async () => ({ durationMs: 100 }),
      stopMedia: async () => ({}),
    } as unknown as MediaNg;
    return { ng, log };
  }

  it('asks for a re-INVITE with the same session id and a higher version when the caller side changed', async () => {
    const { ng, log } = scripted([40000, 40002, 40002]);
    const { s } = await session(await party(), undefined, { ng, daemonTag: 'd' });
    const answer = await s.answer();
    const sessionId = /^o=- (\d+) 1 /m.exec(answer)![1];
    expect(sessionId).not.toBe('777'); // the daemon's own origin, not the far end's
    const legOffer = await s.offerCallee('leg-1');
    expect(/^o=- (\d+) /m.exec(legOffer)![1]).not.toBe(sessionId);
    const update = await s.connectCallee('leg-1', sdp(50000));
    expect(update.action).toBe('reinvite');
    expect((update as { sdp: string }).sdp).toMatch(new RegExp(`^o=- ${sessionId} 2 IN IP4 127\\.0\\.0\\.1\r$`, 'm'));
    expect(mPort((update as { sdp: string }).sdp)).toBe(40002);
    expect(await s.releaseCallee('leg-1')).toEqual({ action: 'none' }); // same port again
    expect(log).toEqual(['offer d', 'answer d', 'offer leg-1', 'answer leg-1', 'delete d', 'offer d-2', 'answer d-2', 'delete leg-1']);
  });

  it('runs operations one at a time; an aborted one rejects with the reason but completes', async () => {
    const { ng, log } = scripted([]);
    const { s } = await session(await party(), undefined, { ng, daemonTag: 'd' });
    const ac = new AbortController();
    const answering = s.answer();
    const offering = s.offerCallee('leg-1', { signal: ac.signal });
    ac.abort(new Error('caller hung up'));
    await expect(offering).rejects.toThrow('caller hung up');
    await answering;
    await expect.poll(() => s.pendingLegs).toEqual(['leg-1']);
    expect(log).toEqual(['offer d', 'answer d', 'offer leg-1']);
    await expect(s.offerCallee('leg-2', { signal: ac.signal })).rejects.toThrow('caller hung up');
    await expect(s.play({ file: '/x.wav' }, {})).resolves.toMatchObject({ durationMs: 100 });
  });
});

describe('caller re-offers (hold and resume, RFC 3264 §8)', () => {
  const withDirection = (text: string, dir: string) => text.replace(/\r?\n$/, '').concat(`\r\na=${dir}\r\n`);
  const origin = (text: string) => /^o=(\S+) (\d+) (\d+) /m.exec(text)!.slice(2).map(Number);

  it('with the daemon as peer: hold is answered recvonly, resume sendrecv, without a callee', async () => {
    const caller = await party();
    const { s } = await session(caller);
    const first = await s.answer();
    let relayed = 0;
    const held = await s.callerReoffer(withDirection(sdp(caller.port), 'sendonly'), async () => {
      relayed++;
      return '';
    });
    expect(held).toMatch(/^a=recvonly\r?$/m);
    expect(origin(held)[0]).toBe(origin(first)[0]);
    expect(origin(held)[1]).toBe(origin(first)[1]! + 1);
    const resumed = await s.callerReoffer(sdp(caller.port), async () => '');
    expect(resumed).not.toMatch(/^a=(recvonly|sendonly|inactive)\r?$/m);
    expect(mPort(resumed)).toBe(mPort(first));
    expect(relayed).toBe(0);
  });

  it('bridged: the hold reaches the callee as a re-offer of its session; after resume media flows both ways', async () => {
    const [caller, callee] = [await party(), await party()];
    const { s } = await session(caller);
    const answer = await s.answer();
    const offer = await s.offerCallee('leg-1');
    await s.connectCallee('leg-1', sdp(callee.port));
    const toCallee: string[] = [];
    const held = await s.callerReoffer(withDirection(sdp(caller.port), 'sendonly'), async (o) => {
      toCallee.push(o);
      return withDirection(sdp(callee.port), 'recvonly');
    });
    expect(toCallee).toHaveLength(1);
    expect(toCallee[0]).toMatch(/^a=sendonly\r?$/m);
    expect(origin(toCallee[0]!)[0]).toBe(origin(offer)[0]);
    expect(origin(toCallee[0]!)[1]).toBe(origin(offer)[1]! + 1);
    expect(held).toMatch(/^a=recvonly\r?$/m);
    const resumed = await s.callerReoffer(sdp(caller.port), async (o) => {
      toCallee.push(o);
      return sdp(callee.port);
    });
    expect(toCallee[1]).not.toMatch(/^a=(recvonly|sendonly|inactive)\r?$/m);
    expect(origin(toCallee[1]!)[1]).toBe(origin(offer)[1]! + 2);
    expect(mPort(resumed)).toBe(mPort(answer));
    await new RtpSender(caller, 0xc).audio(mPort(answer), 5);
    await new RtpSender(callee, 0xd).audio(mPort(toCallee[1]!), 5);
    await expect.poll(() => callee.received.length, { timeout: 1000 }).toBeGreaterThanOrEqual(5);
    await expect.poll(() => caller.received.length, { timeout: 1000 }).toBeGreaterThanOrEqual(5);
  });
});

describe('callee re-offers (hold from the member side)', () => {
  const withDirection = (text: string, dir: string) => text.replace(/\r?\n$/, '').concat(`\r\na=${dir}\r\n`);
  const origin = (text: string) => /^o=(\S+) (\d+) (\d+) /m.exec(text)!.slice(2).map(Number);

  it("the member's hold reaches the caller as a re-offer of the caller's session; the caller's answer comes back", async () => {
    const [caller, callee] = [await party(), await party()];
    const { s } = await session(caller);
    const answer = await s.answer();
    const offer = await s.offerCallee('leg-1');
    await s.connectCallee('leg-1', sdp(callee.port));
    const toCaller: string[] = [];
    const forCallee = await s.calleeReoffer('leg-1', withDirection(sdp(callee.port), 'sendonly'), async (o) => {
      toCaller.push(o);
      return withDirection(sdp(caller.port), 'recvonly');
    });
    expect(toCaller[0]).toMatch(/^a=sendonly\r?$/m);
    expect(origin(toCaller[0]!)[0]).toBe(origin(answer)[0]);
    expect(origin(toCaller[0]!)[1]).toBe(origin(answer)[1]! + 1);
    expect(forCallee).toMatch(/^a=recvonly\r?$/m);
    expect(origin(forCallee)[0]).toBe(origin(offer)[0]);
    await expect(s.calleeReoffer('leg-9', sdp(callee.port), async () => '')).rejects.toThrow(/not the connected leg/);
  });
});
