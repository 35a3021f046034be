import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RtpPortPool, type RtpPacket } from '../../../src/media/rtp-endpoint.js';
import { recordAudio, RtpAudioAssembler, SilenceDetector, type AudioSource } from '../../../src/media/rtp-recorder.js';
import { alawToLinear, decodeG711, decodeWav, encodeWav, linearToMulaw, mulawToLinear, rmsDbfs } from '../../../src/media/wav.js';

/** A 20 ms PCMU packet of a 1 kHz tone (amplitude `amp`) or silence. */
function packet(seq: number, o: { ts?: number; ssrc?: number; amp?: number; pt?: number; samples?: number } = {}): RtpPacket {
  const n = o.samples ?? 160;
  const ts = o.ts ?? seq * 160;
  const payload = Buffer.alloc(n);
  for (let i = 0; i < n; i++) payload[i] = linearToMulaw((o.amp ?? 8000) * Math.sin((2 * Math.PI * 1000 * (ts + i)) / 8000));
  return { payloadType: o.pt ?? 0, marker: false, sequence: seq & 0xffff, timestamp: ts >>> 0, ssrc: o.ssrc ?? 1, csrcs: [], payload };
}

function assemble(packets: RtpPacket[], window?: number): { samples: Int16Array; fills: number; assembler: RtpAudioAssembler } {
  const parts: Int16Array[] = [];
  let fills = 0;
  const a = new RtpAudioAssembler((s, fill) => {
    parts.push(s);
    if (fill) fills += s.length;
  }, window === undefined ? {} : { reorderWindow: window });
  for (const p of packets) a.push(p);
  a.flush();
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return { samples: out, fills, assembler: a };
}

describe('G.711 and WAV', () => {
  it('decodes µ-law and A-law reference values (ITU-T G.711 tables)', () => {
    expect(mulawToLinear(0xff)).toBe(0);
    expect(mulawToLinear(0x7f)).toBe(0);
    expect(mulawToLinear(0x00)).toBe(-32124);
    expect(mulawToLinear(0x80)).toBe(32124);
    expect(alawToLinear(0xd5)).toBe(8);
    expect(alawToLinear(0x55)).toBe(-8);
    expect(alawToLinear(0xaa)).toBe(32256);
    expect(decodeG711(Buffer.from([0xff, 0x80]), 'PCMU')).toEqual(new Int16Array([0, 32124]));
  });

  it('µ-law encoding round-trips within its quantization step', () => {
    fc.assert(
      fc.property(fc.integer({ min: -32000, max: 32000 }), (x) => {
        const y = mulawToLinear(linearToMulaw(x));
        expect(Math.abs(y - x)).toBeLessThanOrEqual(Math.max(8, Math.abs(x) / 16));
      }),
    );
  });

  it('writes a 8 kHz mono 16-bit WAV with an INFO comment that reads back', () => {
    const samples = Int16Array.from({ length: 800 }, (_, i) => (i % 2 ? 1000 : -1000));
    const bytes = encodeWav(samples, { callerNumber: '+15551230000', receivedAt: 1763760000000 });
    expect(bytes.toString('ascii', 0, 4)).toBe('RIFF');
    expect(bytes.readUInt32LE(4)).toBe(bytes.length - 8);
    const wav = decodeWav(bytes);
    expect(wav).toMatchObject({ sampleRate: 8000, channels: 1, bitsPerSample: 16, durationMs: 100, comment: { callerNumber: '+15551230000', receivedAt: 1763760000000 } });
    expect(wav.samples).toEqual(samples);
    expect(() => decodeWav(Buffer.from('nope'))).toThrow(/RIFF/);
  });

  it('measures levels in dBFS', () => {
    expect(rmsDbfs(new Int16Array(160))).toBe(-Infinity);
    expect(rmsDbfs(new Int16Array(160).fill(16384))).toBeCloseTo(-6.02, 1);
  });
});

describe('RtpAudioAssembler', () => {
  it('puts reordered packets back in sequence order and drops duplicates', () => {
    const inOrder = assemble([0, 1, 2, 3, 4, 5].map((s) => packet(s))).samples;
    const shuffled = assemble([1, 0, 3, 2, 2, 5, 4].map((s) => packet(s)));
    expect(shuffled.samples).toEqual(inOrder);
    expect(shuffled.fills).toBe(0);
    expect(shuffled.assembler.dropped).toBe(1);
  });

  it('fills a lost packet with silence of its length', () => {
    const r = assemble([0, 1, 3, 4].map((s) => packet(s)));
    expect(r.samples.length).toBe(5 * 160);
    expect(r.fills).toBe(160);
    expect(r.samples.subarray(320, 480).every((v) => v === 0)).toBe(true);
    expect(r.assembler.lost).toBe(1);
  });

  it('fills a timestamp gap (a sender that stopped in silence) and handles sequence and timestamp wrap', () => {
    const r = assemble([packet(65534, { ts: 0xffffff00 }), packet(65535, { ts: 0xffffffa0 }), packet(0, { ts: 0x40 + 800 })]);
    expect(r.samples.length).toBe(160 * 3 + 800);
    expect(r.fills).toBe(800);
  });

  it('gives up on a missing packet after the reorder window and drops it when it comes too late', () => {
    const r = assemble([0, 2, 3, 4, 1].map((s) => packet(s)), 2);
    expect(r.samples.length).toBe(5 * 160);
    expect(r.assembler.lost).toBe(1);
    expect(r.assembler.dropped).toBe(1);
  });

  it('continues with a new SSRC without filling between the runs, and ignores telephone-event packets', () => {
    const r = assemble([packet(0), packet(1), packet(500, { ssrc: 2, ts: 9_000_000 }), packet(2, { pt: 101 })]);
    expect(r.samples.length).toBe(3 * 160);
    expect(r.fills).toBe(0);
  });
});

describe('RtpAudioAssembler properties', () => {
  /** Packet k carries the constant sample k + 1 (so order and gaps are visible in the output). */
  const marked = (k: number, base: number): RtpPacket => ({
    payloadType: 0, marker: false, sequence: (base + k) & 0xffff, timestamp: ((base + k) * 160) >>> 0, ssrc: 9, csrcs: [],
    payload: Buffer.alloc(160, linearToMulaw(100 * ((k % 200) + 1))),
  });

  it('any reordering within the window and any losses (first and last kept) give the packets in order with silence for each lost one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 60 }),
        fc.integer({ min: 0, max: 65535 }),
        fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 60, maxLength: 60 }),
        (n, base, lose, jitter) => {
          const kept = Array.from({ length: n }, (_, k) => k).filter((k) => k === 0 || k === n - 1 || !lose[k]);
          // Each packet may arrive up to 3 places late (window 8 > 3): sort by k + jitter.
          const arrival = [...kept].sort((a, b) => a + jitter[a]! - (b + jitter[b]!) || a - b);
          const r = assemble(arrival.map((k) => marked(k, base)));
          expect(r.samples.length).toBe(n * 160);
          expect(r.fills).toBe((n - kept.length) * 160);
          for (let k = 0; k < n; k++) {
            const v = r.samples[k * 160 + 80]!;
            if (kept.includes(k)) expect(v).toBe(mulawToLinear(linearToMulaw(100 * ((k % 200) + 1))));
            else expect(v).toBe(0);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('SilenceDetector', () => {
  it('counts the quiet run and resets on sound', () => {
    const d = new SilenceDetector(-45);
    d.push(new Int16Array(160).fill(20));
    d.push(new Int16Array(160));
    expect(d.quietMs).toBe(40);
    d.push(new Int16Array(160).fill(3000));
    expect(d.quietMs).toBe(0);
    expect(d.loudSamples).toBe(160);
  });
});

/** A source the test drives: packets and digits pushed by hand. */
function source(): AudioSource & { send(p: RtpPacket): void; press(d: string): void } {
  const packets = new Set<(p: RtpPacket) => void>();
  const digits = new Set<(d: string) => void>();
  return {
    onPacket: (l) => (packets.add(l), () => packets.delete(l)),
    onDigit: (l) => (digits.add(l), () => digits.delete(l)),
    send: (p) => packets.forEach((l) => l(p)),
    press: (d) => digits.forEach((l) => l(d)),
  };
}

describe('recordAudio', () => {
  it('stops at the stop digit with everything heard so far', async () => {
    const s = source();
    const ac = new AbortController();
    const done = recordAudio(s, { maxDurationMs: 10_000, maxSilenceMs: 2000 }, ac.signal);
    for (let i = 0; i < 50; i++) s.send(packet(i));
    s.press('5');
    s.press('#');
    const r = await done;
    expect(r).toMatchObject({ endedBy: 'digit', digit: '#', durationMs: 1000, soundMs: 1000 });
  });

  it('stops after maxSilence of quiet audio and trims the quiet tail', async () => {
    const s = source();
    const done = recordAudio(s, { maxDurationMs: 10_000, maxSilenceMs: 1000 }, new AbortController().signal);
    for (let i = 0; i < 100; i++) s.send(packet(i, { amp: i < 25 ? 8000 : 0 }));
    const r = await done;
    expect(r.endedBy).toBe('silence');
    expect(r.durationMs).toBe(500);
  });

  it('cuts at the maximum length', async () => {
    const s = source();
    const done = recordAudio(s, { maxDurationMs: 300, maxSilenceMs: 0 }, new AbortController().signal);
    for (let i = 0; i < 40; i++) s.send(packet(i));
    const r = await done;
    expect(r).toMatchObject({ endedBy: 'max-length', durationMs: 300 });
    expect(r.samples.length).toBe(2400);
  });

  it('resolves with the audio when the caller hangs up, and on wall-clock silence when no packets come', async () => {
    const s = source();
    const ac = new AbortController();
    const done = recordAudio(s, { maxDurationMs: 10_000, maxSilenceMs: 5000 }, ac.signal);
    for (let i = 0; i < 10; i++) s.send(packet(i));
    ac.abort(new Error('bye'));
    expect(await done).toMatchObject({ endedBy: 'hangup', durationMs: 200 });
    const idle = await recordAudio(source(), { maxDurationMs: 10_000, maxSilenceMs: 50 }, new AbortController().signal);
    expect(idle).toMatchObject({ endedBy: 'silence', durationMs: 0 });
  });
});

describe('RtpEndpoint packets for recording', () => {
  it('hands media packets to onPacket listeners, never the telephone-event ones, until unsubscribed', async () => {
    // A port block of this process above the ephemeral range, away from test/media's blocks.
    const min = 61_100 + (process.pid % 100) * 8;
    const ep = await new RtpPortPool({ host: '127.0.0.1', min, max: min + 3 }).open();
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    try {
      ep.setTelephoneEvent(101);
      const got: number[] = [];
      const off = ep.onPacket((p) => got.push(p.payloadType));
      const send = (pt: number, seq: number) => {
        const b = Buffer.alloc(12 + 160);
        b[0] = 0x80;
        b[1] = pt;
        b.writeUInt16BE(seq, 2);
        return new Promise<void>((r) => s.send(b, ep.port, '127.0.0.1', () => r()));
      };
      await send(0, 1);
      await send(101, 2);
      await send(8, 3);
      await expect.poll(() => ep.stats.packets, { timeout: 1000 }).toBe(3);
      expect(got).toEqual([0, 8]);
      off();
      await send(0, 4);
      await expect.poll(() => ep.stats.packets, { timeout: 1000 }).toBe(4);
      expect(got).toEqual([0, 8]);
    } finally {
      s.close();
      await ep.close();
    }
  });
});
