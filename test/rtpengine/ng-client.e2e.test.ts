/**
 * NgClient against a real rtpengine (Debian rtpengine-daemon, userspace) on loopback: ping, a
 * PCMU + telephone-event call through offer/answer with real RTP flowing, query, list, play/stop
 * media, block/unblock media, delete, and rtpengine's error replies. Fails (never skips) when
 * rtpengine is not installed. Reply shapes asserted here are what rtpengine 10.5 sends.
 */
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NgClient } from '../../src/rtpengine/ng-client.js';
import type { NgProtocolError } from '../../src/rtpengine/ng-errors.js';
import { decode, encode } from '../../src/rtpengine/bencode.js';
import { readPidFile, startRtpengine, type RtpengineProcess } from './rtpengine-process.js';
import { toneWav } from '../support/wav.js';

let rtp: RtpengineProcess | undefined;
let ng: NgClient;
let caller: dgram.Socket;
let callee: dgram.Socket;
let dir: string;

async function udpSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

/** A minimal SDP from 127.0.0.1 offering PCMU (0) and telephone-event (101), RFC 4566 / RFC 4733. */
function sdp(port: number, sessionId: number): string {
  return [
    'v=0',
    `o=- ${sessionId} 1 IN IP4 127.0.0.1`,
    's=pbxctl',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

const mPort = (s: string) => Number(/^m=audio (\d+) /m.exec(s)?.[1]);


/** An RTP packet (RFC 3550): PT 0, 160 bytes of PCMU silence (20 ms). */
function rtpPacket(seq: number): Buffer {
  const p = Buffer.alloc(12 + 160, 0xff);
  p[0] = 0x80;
  p[1] = 0;
  p.writeUInt16BE(seq, 2);
  p.writeUInt32BE(seq * 160, 4);
  p.writeUInt32BE(0x1234abcd, 8);
  return p;
}

beforeAll(async () => {
  rtp = await startRtpengine();
  ng = rtp.client({ timeoutMs: 1000 });
  caller = await udpSocket();
  callee = await udpSocket();
  dir = mkdtempSync(join(tmpdir(), 'pbxctl-ng-e2e-'));
}, 30_000);

afterAll(async () => {
  await ng?.close();
  caller?.close();
  callee?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await rtp?.stop(); // runs on failure too: kills exactly the PID it spawned
});

describe('NgClient against rtpengine', () => {
  it('answers ping with pong; the pidfile names the PID we spawned', async () => {
    await expect(ng.ping()).resolves.toBeUndefined();
    expect(readPidFile(rtp!)).toBe(rtp!.pid);
  });

  it('runs a call: offer, answer, RTP flows, query, list, media commands, delete', async () => {
    const callId = `e2e-${process.pid}-${Date.now()}@127.0.0.1`;
    const leg = { callId, fromTag: 'caller-tag' };
    const offer = await ng.offer({
      ...leg,
      sdp: sdp(caller.address().port, 1001),
      replace: ['origin', 'session-connection'],
      ice: 'remove',
      transportProtocol: 'RTP/AVP',
      flags: ['trust-address'],
    });
    // The SDP for the callee: rtpengine's address, a port from our range, both codecs kept.
    expect(offer.sdp).toMatch(/^c=IN IP4 127\.0\.0\.1\r$/m);
    expect(offer.sdp).toMatch(/^m=audio \d+ RTP\/AVP 0 101\r$/m);
    expect(offer.sdp).toContain('a=rtpmap:101 telephone-event/8000\r\n');
    expect(offer.sdp).not.toContain('a=ice-');
    const toCallee = mPort(offer.sdp);
    expect(toCallee).toBeGreaterThanOrEqual(rtp!.portMin);
    expect(toCallee).toBeLessThanOrEqual(rtp!.portMax);

    const answer = await ng.answer({ ...leg, toTag: 'callee-tag', sdp: sdp(callee.address().port, 2002), replace: ['origin', 'session-connection'], ice: 'remove' });
    const toCaller = mPort(answer.sdp);
    expect(toCaller).toBeGreaterThanOrEqual(rtp!.portMin);
    expect(toCaller).not.toBe(toCallee);

    // Media: the caller sends to the port in the answer SDP; rtpengine relays to the callee.
    const received = new Promise<Buffer>((resolve) => callee.once('message', (m) => resolve(m)));
    for (let seq = 1; seq <= 5; seq++) caller.send(rtpPacket(seq), toCaller, '127.0.0.1');
    const relayed = await received;
    expect(relayed.length).toBe(172);

    await expect.poll(async () => (await ng.query({ callId })).totals.rtp.packets, { timeout: 3000 }).toBeGreaterThanOrEqual(5);
    const q = await ng.query({ callId });
    expect(q.tags.map((t) => t.tag).sort()).toEqual(['callee-tag', 'caller-tag']);
    const callerTag = q.tags.find((t) => t.tag === 'caller-tag')!;
    expect(callerTag.medias).toHaveLength(1);
    expect(callerTag.medias[0]).toMatchObject({ index: 1, type: 'audio', protocol: 'RTP/AVP' });
    const [rtpStream, rtcpStream] = callerTag.medias[0]!.streams;
    expect(rtpStream).toMatchObject({ localPort: toCaller, endpoint: { family: 'IPv4', address: '127.0.0.1', port: caller.address().port } });
    expect(rtpStream!.flags).toContain('RTP');
    expect(rtpStream!.stats.packets).toBeGreaterThanOrEqual(5);
    expect(rtpStream!.stats.bytes).toBeGreaterThanOrEqual(5 * 172);
    expect(rtcpStream!.flags).toContain('RTCP');
    expect(q.created).toBeGreaterThan(1_600_000_000);
    expect(q.lastSignal).toBeGreaterThanOrEqual(q.created!);

    expect(await ng.list()).toContain(callId);

    const prompt = join(dir, 'prompt.wav');
    writeFileSync(prompt, toneWav(1500));
    await expect(ng.playMedia({ callId, fromTag: 'caller-tag', file: prompt })).resolves.toEqual({ durationMs: 1500 });
    // repeat-times does not multiply the reported duration (rtpengine 10.5).
    await expect(ng.playMedia({ callId, fromTag: 'caller-tag', file: prompt, repeatTimes: 3 })).resolves.toEqual({ durationMs: 1500 });
    await expect(ng.playMedia({ callId, fromTag: 'callee-tag', blob: toneWav(200) })).resolves.toEqual({ durationMs: 200 });
    await expect(ng.stopMedia({ callId, fromTag: 'caller-tag' })).resolves.toEqual({});
    await expect(ng.stopMedia({ callId, fromTag: 'caller-tag' })).resolves.toEqual({});

    await expect(ng.blockMedia({ callId, fromTag: 'caller-tag' })).resolves.toEqual({});
    await expect(ng.unblockMedia({ callId, fromTag: 'caller-tag' })).resolves.toEqual({});

    const deleted = await ng.delete({ callId, fromTag: 'caller-tag', deleteDelaySec: 0 });
    expect(deleted.warning).toBeUndefined();
    expect(deleted.stats?.totals.rtp.packets).toBeGreaterThanOrEqual(5);
    expect(await ng.list()).not.toContain(callId);
    await expect(ng.query({ callId })).rejects.toMatchObject({ name: 'NgProtocolError', errorReason: 'Unknown call-id' });
  });

  it("reports rtpengine's error-reason texts verbatim", async () => {
    const unknown = { callId: `nope-${Date.now()}`, fromTag: 'x' };
    const reasons = async (p: Promise<unknown>) => ((await p.then(() => undefined, (e: unknown) => e)) as NgProtocolError).errorReason;
    // The spelling differs by command (sic): query/answer say "call-id", play/block media "call-ID".
    expect(await reasons(ng.query(unknown))).toBe('Unknown call-id');
    expect(await reasons(ng.answer({ ...unknown, toTag: 'y', sdp: sdp(4000, 1) }))).toBe('Unknown call-id');
    expect(await reasons(ng.playMedia({ ...unknown, file: '/x.wav' }))).toBe('Unknown call-ID');
    expect(await reasons(ng.blockMedia(unknown))).toBe('Unknown call-ID');
    expect(await reasons(ng.offer({ ...unknown, sdp: 'not sdp' }))).toBe('Failed to parse SDP');
    expect(await reasons(ng.delete({ ...unknown, fatal: true }))).toBe("Call-ID not found or tags didn't match");
    // Without `fatal`, deleting an unknown call is ok with a warning.
    await expect(ng.delete(unknown)).resolves.toEqual({ warning: "Call-ID not found or tags didn't match" });
    expect(await reasons(ng.request('no such command'))).toBe('Unrecognized command');
  });

  it('play media to an unknown tag fails with its own reason', async () => {
    const callId = `e2e-tag-${Date.now()}`;
    await ng.offer({ callId, fromTag: 'a', sdp: sdp(caller.address().port, 1) });
    await expect(ng.playMedia({ callId, fromTag: 'nosuch', blob: toneWav(100) })).rejects.toMatchObject({
      errorReason: 'From-tag given, but no such tag exists',
    });
    await expect(ng.playMedia({ callId, fromTag: 'a', file: join(dir, 'missing.wav') })).rejects.toMatchObject({
      errorReason: 'Failed to start media playback from file',
    });
    await ng.delete({ callId, deleteDelaySec: 0 });
  });

  it('replays the cached reply for a reused cookie, whatever the new body (why cookies must be unique)', async () => {
    const s = await udpSocket();
    try {
      const cookieBody = (c: string, body: Record<string, string>) =>
        new Promise<unknown>((resolve) => {
          s.once('message', (m) => resolve(decode(m.subarray(m.indexOf(0x20) + 1))));
          s.send(Buffer.concat([Buffer.from(`${c} `), encode(body)]), rtp!.ngPort, '127.0.0.1');
        });
      const cookie = `reuse-${process.pid}-${Date.now()}`;
      expect(await cookieBody(cookie, { command: 'ping' })).toEqual({ result: 'pong' });
      expect(await cookieBody(cookie, { command: 'list' })).toEqual({ result: 'pong' });
    } finally {
      s.close();
    }
  });
});

describe('rtpengine-process helper', () => {
  it('runs a second instance on another port block and stops exactly that PID', async () => {
    const other = await startRtpengine({ extraArgs: ['--delete-delay=0'] });
    try {
      expect(other.ngPort).not.toBe(rtp!.ngPort);
      expect(other.portMin > rtp!.portMax || other.portMax < rtp!.portMin).toBe(true);
      const c = other.client();
      await c.ping();
      await c.close();
    } finally {
      await other.stop();
    }
    expect(() => process.kill(other.pid, 0)).toThrow(/ESRCH/);
    expect(() => process.kill(rtp!.pid, 0)).not.toThrow(); // the first one is untouched
    await expect(ng.ping()).resolves.toBeUndefined();
  });
});
