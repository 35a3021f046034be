/**
 * G.711 decoding and the WAV files the daemon writes (voicemail messages and greetings): RIFF/WAVE,
 * PCM format 1, 8000 Hz, mono, 16-bit little-endian — the same format as rendered prompts
 * (media/prompt-render.ts PROMPT_FORMAT), so RTPengine's `play media` plays a message exactly like
 * a prompt.
 *
 * A file may carry a `LIST`/`INFO` chunk after the audio (RIFF "Multimedia Programming Interface
 * and Data Specifications 1.0", INFO list) whose `ICMT` comment holds a small JSON object: the
 * voicemail store puts the message's caller and time there, so a message whose database row was
 * lost (a crash between the file's fsync and the insert) can be indexed again with its caller ID.
 * Players and ffmpeg skip INFO chunks.
 */

/** The sample rate of everything here (G.711, RFC 3551 §4.5.14). */
export const WAV_SAMPLE_RATE = 8000;

/** ITU-T G.711 µ-law byte -> 16-bit linear sample (the classic decoder: bias 0x84, 14-bit magnitude scaled to 16). */
export function mulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const sign = u & 0x80;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
  return sign && magnitude ? -magnitude : magnitude;
}

/** ITU-T G.711 A-law byte -> 16-bit linear sample (even bits inverted: XOR 0x55). */
export function alawToLinear(byte: number): number {
  const a = byte ^ 0x55;
  const sign = a & 0x80;
  const exponent = (a >> 4) & 0x07;
  const mantissa = a & 0x0f;
  let magnitude = exponent === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  magnitude = Math.min(magnitude, 32767);
  return sign ? magnitude : -magnitude;
}

/** 16-bit linear -> µ-law byte (for tests and synthesized RTP; the inverse of {@link mulawToLinear} up to quantization). */
export function linearToMulaw(sample: number): number {
  const BIAS = 0x84;
  const CLIP = 32635;
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > CLIP) s = CLIP;
  s += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

const MULAW = Int16Array.from({ length: 256 }, (_, i) => mulawToLinear(i));
const ALAW = Int16Array.from({ length: 256 }, (_, i) => alawToLinear(i));

/**
 * Decodes a G.711 payload to 16-bit samples.
 * @param codec `PCMU` (RTP payload type 0) or `PCMA` (8)
 */
export function decodeG711(payload: Uint8Array, codec: 'PCMU' | 'PCMA'): Int16Array {
  const table = codec === 'PCMU' ? MULAW : ALAW;
  const out = new Int16Array(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = table[payload[i]!]!;
  return out;
}

/** RMS level of samples in dBFS (0 = full scale sine-ish square; -Infinity for digital silence or no samples). */
export function rmsDbfs(samples: ArrayLike<number>): number {
  if (samples.length === 0) return -Infinity;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  const rms = Math.sqrt(sum / samples.length);
  return rms === 0 ? -Infinity : 20 * Math.log10(rms / 32768);
}

/** What the store keeps inside a message file (the INFO comment), so the file alone can be re-indexed. */
export type WavComment = Record<string, string | number>;

function chunk(id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'ascii');
  head.writeUInt32LE(body.length, 4);
  return body.length % 2 ? Buffer.concat([head, body, Buffer.alloc(1)]) : Buffer.concat([head, body]);
}

/**
 * A complete WAV file of 8 kHz mono 16-bit PCM samples, with an optional INFO comment after the audio.
 * @param samples 16-bit signed samples (values outside -32768..32767 are clamped)
 */
export function encodeWav(samples: Int16Array, comment?: WavComment): Buffer {
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(1, 0); // PCM
  fmt.writeUInt16LE(1, 2); // mono
  fmt.writeUInt32LE(WAV_SAMPLE_RATE, 4);
  fmt.writeUInt32LE(WAV_SAMPLE_RATE * 2, 8); // byte rate
  fmt.writeUInt16LE(2, 12); // block align
  fmt.writeUInt16LE(16, 14);
  const data = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  // WAV is little-endian; so is every machine Node runs the daemon on (x86-64, arm64), checked here anyway.
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? data : Buffer.from(data).swap16();
  const parts = [chunk('fmt ', fmt), chunk('data', le)];
  if (comment) parts.push(chunk('LIST', Buffer.concat([Buffer.from('INFO', 'ascii'), chunk('ICMT', Buffer.from(`${JSON.stringify(comment)}\0`, 'utf8'))])));
  const body = Buffer.concat(parts);
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'ascii');
  riff.writeUInt32LE(4 + body.length, 4);
  riff.write('WAVE', 8, 'ascii');
  return Buffer.concat([riff, body]);
}

/** A WAV file as {@link decodeWav} reads it. */
export interface DecodedWav {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** Samples of the first channel when 16-bit PCM; empty otherwise. */
  samples: Int16Array;
  /** Playing time, ms. */
  durationMs: number;
  /** The INFO comment when it is a JSON object (see the module doc). */
  comment?: WavComment;
}

/**
 * Reads a RIFF/WAVE file: format, 16-bit PCM samples and the INFO comment.
 * @throws Error when it is not a RIFF/WAVE file with fmt and data chunks
 */
export function decodeWav(bytes: Buffer): DecodedWav {
  if (bytes.length < 12 || bytes.toString('ascii', 0, 4) !== 'RIFF' || bytes.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a RIFF/WAVE file');
  let fmt: { format: number; channels: number; sampleRate: number; bitsPerSample: number } | undefined;
  let data: Buffer | undefined;
  let comment: WavComment | undefined;
  for (let offset = 12; offset + 8 <= bytes.length; ) {
    const id = bytes.toString('ascii', offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    const body = bytes.subarray(offset + 8, Math.min(bytes.length, offset + 8 + size));
    if (id === 'fmt ' && body.length >= 16) {
      fmt = { format: body.readUInt16LE(0), channels: body.readUInt16LE(2), sampleRate: body.readUInt32LE(4), bitsPerSample: body.readUInt16LE(14) };
    } else if (id === 'data') {
      data = body;
    } else if (id === 'LIST' && body.toString('ascii', 0, 4) === 'INFO') {
      for (let o = 4; o + 8 <= body.length; ) {
        const sub = body.toString('ascii', o, o + 4);
        const len = body.readUInt32LE(o + 4);
        if (sub === 'ICMT') {
          try {
            const parsed: unknown = JSON.parse(body.toString('utf8', o + 8, o + 8 + len).replace(/\0+$/, ''));
            if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) comment = parsed as WavComment;
          } catch {
            // A comment someone else wrote: not ours.
          }
        }
        o += 8 + len + (len % 2);
      }
    }
    offset += 8 + size + (size % 2);
  }
  if (!fmt) throw new Error('no fmt chunk');
  if (!data) throw new Error('no data chunk');
  const frame = fmt.channels * (fmt.bitsPerSample / 8);
  const frames = frame > 0 ? Math.floor(data.length / frame) : 0;
  let samples = new Int16Array(0);
  if (fmt.format === 1 && fmt.bitsPerSample === 16) {
    samples = new Int16Array(frames);
    for (let i = 0; i < frames; i++) samples[i] = data.readInt16LE(i * frame);
  }
  return { sampleRate: fmt.sampleRate, channels: fmt.channels, bitsPerSample: fmt.bitsPerSample, samples, durationMs: Math.round((frames / fmt.sampleRate) * 1000), ...(comment ? { comment } : {}) };
}
