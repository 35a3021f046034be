/**
 * Recording the caller's audio from the daemon's RTP endpoint (voicemail messages and greetings).
 * RTPengine transcodes the caller to G.711 towards the endpoint (media-session.ts), so the packets
 * here are PCMU (payload type 0) or PCMA (8), 8 kHz, usually 20 ms each (RFC 3551 §4.5.14).
 *
 * - {@link RtpAudioAssembler} puts packets back in RTP sequence order (RFC 3550 §5.1, extended
 *   sequence numbers as in its appendix A.1) within a small reorder window, drops duplicates and
 *   late packets, and fills what is missing with silence from the RTP timestamps (lost packets,
 *   and senders that stop sending in silence, RFC 3551 §4.1). A new SSRC starts a new run.
 * - {@link SilenceDetector} measures each frame's energy (RMS in dBFS) and tells how long the
 *   audio has been quiet.
 * - {@link recordAudio} runs one recording until the caller hangs up, presses a stop digit, stays
 *   quiet for `maxSilenceMs`, or reaches `maxDurationMs`.
 */
import type { RtpPacket } from './rtp-endpoint.js';
import { decodeG711, rmsDbfs, WAV_SAMPLE_RATE } from './wav.js';

/** Static payload types of G.711 (RFC 3551 table 4). */
const G711: Record<number, 'PCMU' | 'PCMA'> = { 0: 'PCMU', 8: 'PCMA' };

/** Options of {@link RtpAudioAssembler}. */
export interface AssemblerOptions {
  /** Packets held back waiting for a missing one before it counts as lost (default 8: 160 ms of 20 ms packets). */
  reorderWindow?: number;
  /** Longest timestamp gap filled with silence, ms (default 10 s); a longer jump is a sender's clock reset, not silence. */
  maxGapMs?: number;
}

/**
 * Reassembles a G.711 RTP stream into ordered 8 kHz samples. Samples are handed to `onSamples` in
 * play order; `fill` marks silence inserted for missing audio.
 */
export class RtpAudioAssembler {
  private readonly window: number;
  private readonly maxGap: number;
  /** One SSRC's packets; `started` once the first packet was emitted (until then the start may still be reordered). */
  private run?: { ssrc: number; maxExt: number; nextExt: number; started: boolean; expectedTs?: number; buffer: Map<number, RtpPacket> };
  /** Packets dropped as duplicates or too late. */
  dropped = 0;
  /** Packets never received (skipped after the reorder window). */
  lost = 0;

  constructor(
    private readonly onSamples: (samples: Int16Array, fill: boolean) => void,
    o: AssemblerOptions = {},
  ) {
    this.window = o.reorderWindow ?? 8;
    this.maxGap = Math.round(((o.maxGapMs ?? 10_000) * WAV_SAMPLE_RATE) / 1000);
  }

  /** Feeds one packet; packets of other payload types (telephone-event, comfort noise) are ignored. */
  push(p: RtpPacket): void {
    if (!(p.payloadType in G711)) return;
    if (this.run && this.run.ssrc !== p.ssrc) this.flush();
    if (!this.run) this.run = { ssrc: p.ssrc, maxExt: p.sequence, nextExt: p.sequence, started: false, buffer: new Map() };
    const r = this.run;
    // RFC 3550 A.1: the extended sequence number is the one closest to the highest seen.
    const delta = ((p.sequence - (r.maxExt & 0xffff) + 0x8000) & 0xffff) - 0x8000;
    const ext = r.maxExt + delta;
    if ((r.started && ext < r.nextExt) || r.buffer.has(ext)) {
      this.dropped++;
      return;
    }
    if (ext > r.maxExt) r.maxExt = ext;
    r.buffer.set(ext, p);
    this.drain(false);
  }

  /** Emits everything held back (end of the recording, or a new SSRC). */
  flush(): void {
    this.drain(true);
    this.run = undefined;
  }

  private drain(all: boolean): void {
    const r = this.run;
    if (!r) return;
    if (!r.started) {
      // The first packets may arrive out of order too: start once the window is full.
      if (r.buffer.size === 0 || (!all && r.buffer.size <= this.window)) return;
      r.nextExt = Math.min(...r.buffer.keys());
      r.started = true;
    }
    for (;;) {
      const p = r.buffer.get(r.nextExt);
      if (p) {
        r.buffer.delete(r.nextExt);
        r.nextExt++;
        this.emit(p);
        continue;
      }
      if (r.buffer.size === 0 || (!all && r.buffer.size <= this.window)) return;
      // The missing packet is lost: continue from the oldest one held (its timestamp fills the gap).
      const oldest = Math.min(...r.buffer.keys());
      this.lost += oldest - r.nextExt;
      r.nextExt = oldest;
    }
  }

  private emit(p: RtpPacket): void {
    const r = this.run!;
    const samples = decodeG711(p.payload, G711[p.payloadType]!);
    if (r.expectedTs !== undefined) {
      const gap = (p.timestamp - r.expectedTs) | 0; // signed 32-bit difference: timestamps wrap
      if (gap > 0 && gap <= this.maxGap) this.onSamples(new Int16Array(gap), true);
    }
    r.expectedTs = (p.timestamp + samples.length) >>> 0;
    this.onSamples(samples, false);
  }
}

/** Tells how long audio has been quiet: frames below `thresholdDbfs` (RMS) extend the quiet run. */
export class SilenceDetector {
  /** Samples in the current quiet run. */
  quietSamples = 0;
  /** Samples seen above the threshold in all. */
  loudSamples = 0;

  /** @param thresholdDbfs RMS level a frame must exceed to count as sound (default -45 dBFS: well above a phone's noise floor, below soft speech) */
  constructor(readonly thresholdDbfs = -45) {}

  /** Feeds one frame (e.g. a 20 ms packet's samples). */
  push(samples: Int16Array): void {
    if (rmsDbfs(samples) > this.thresholdDbfs) {
      this.quietSamples = 0;
      this.loudSamples += samples.length;
    } else {
      this.quietSamples += samples.length;
    }
  }

  /** The current quiet run, ms. */
  get quietMs(): number {
    return (this.quietSamples * 1000) / WAV_SAMPLE_RATE;
  }
}

/** Where a recording's packets and digits come from (the daemon's RTP endpoint, or a test fake). */
export interface AudioSource {
  /** Subscribes to every RTP packet arriving; returns the unsubscribe. */
  onPacket(listener: (p: RtpPacket) => void): () => void;
  /** Subscribes to RFC 4733 digits; returns the unsubscribe. */
  onDigit(listener: (digit: string) => void): () => void;
}

/** Options of one recording. Times in ms. */
export interface RecordOptions {
  /** Longest recording (audio time); it is cut there. */
  maxDurationMs: number;
  /** Quiet time (or no packets at all) that ends the recording; 0 = never. The quiet tail is trimmed. */
  maxSilenceMs: number;
  /** Digits that end the recording (not recorded), default `#`. */
  stopDigits?: string;
  /** See {@link SilenceDetector}; default -45 dBFS. */
  silenceThresholdDbfs?: number;
}

/** How a recording ended and what it holds. */
export interface RecordResult {
  /** 8 kHz 16-bit samples (silence fills included, a silence-ended recording's quiet tail removed). */
  samples: Int16Array;
  durationMs: number;
  endedBy: 'hangup' | 'digit' | 'silence' | 'max-length';
  /** The stop digit, when `endedBy` is `digit`. */
  digit?: string;
  /** ms of audio above the silence threshold (a message of pure silence has 0). */
  soundMs: number;
  /** Packets lost / dropped by the assembler. */
  lostPackets: number;
}

/**
 * Records from `source` until a stop condition. Never rejects on hang-up: `signal` aborting (the
 * caller hung up, the call was torn down) ends the recording with `endedBy: 'hangup'` and what was
 * heard so far, because a message left before hanging up is the normal case.
 */
export function recordAudio(source: AudioSource, o: RecordOptions, signal: AbortSignal): Promise<RecordResult> {
  const maxSamples = Math.round((o.maxDurationMs * WAV_SAMPLE_RATE) / 1000);
  const chunks: Int16Array[] = [];
  let total = 0;
  const silence = new SilenceDetector(o.silenceThresholdDbfs);
  const stopDigits = o.stopDigits ?? '#';
  return new Promise((resolve) => {
    let done = false;
    const assembler = new RtpAudioAssembler((samples) => {
      if (done) return;
      const room = maxSamples - total;
      const take = samples.length > room ? samples.subarray(0, room) : samples;
      chunks.push(take);
      total += take.length;
      silence.push(take);
      if (total >= maxSamples) finish('max-length');
      else if (o.maxSilenceMs > 0 && silence.quietMs >= o.maxSilenceMs) finish('silence');
    });
    // Wall-clock guards: a caller whose packets stopped altogether (no timestamps to fill from),
    // and the length limit when packets arrive slower than real time.
    const idle = o.maxSilenceMs > 0 ? setTimeout(() => finish('silence'), o.maxSilenceMs) : undefined;
    const limit = setTimeout(() => finish('max-length'), o.maxDurationMs + 1000);
    const offPacket = source.onPacket((p) => {
      idle?.refresh();
      assembler.push(p);
    });
    const offDigit = source.onDigit((d) => {
      if (stopDigits.includes(d)) finish('digit', d);
    });
    const onAbort = () => finish('hangup');
    signal.addEventListener('abort', onAbort, { once: true });
    function finish(endedBy: RecordResult['endedBy'], digit?: string): void {
      if (done) return;
      if (endedBy !== 'silence' && endedBy !== 'max-length') assembler.flush();
      done = true;
      offPacket();
      offDigit();
      if (idle) clearTimeout(idle);
      clearTimeout(limit);
      signal.removeEventListener('abort', onAbort);
      let length = total;
      if (endedBy === 'silence') length = Math.max(0, total - silence.quietSamples);
      const samples = new Int16Array(length);
      let at = 0;
      for (const c of chunks) {
        if (at >= length) break;
        const part = c.subarray(0, length - at);
        samples.set(part, at);
        at += part.length;
      }
      resolve({
        samples,
        durationMs: Math.round((length * 1000) / WAV_SAMPLE_RATE),
        endedBy,
        ...(digit !== undefined ? { digit } : {}),
        soundMs: Math.round((silence.loudSamples * 1000) / WAV_SAMPLE_RATE),
        lostPackets: assembler.lost,
      });
    }
    if (signal.aborted) finish('hangup');
  });
}
