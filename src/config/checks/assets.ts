/**
 * Audio files the repo references exist and are readable WAV files (RIFF/WAVE with a fmt and a
 * data chunk). Conversion to what RTPengine plays happens at apply time, so any WAV encoding
 * ffmpeg/sox read is accepted here.
 */
import { audioFields } from '../../model/references.js';
import type { CheckContext } from './context.js';

/** What a WAV header says: format tag, channels, sample rate (Hz), bits per sample, data bytes. */
export interface WavInfo {
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  dataBytes: number;
}

/**
 * Reads a RIFF/WAVE header (Microsoft RIFF spec; chunks are word-aligned).
 * @returns the header, or a reason the bytes are not a usable WAV file.
 */
export function parseWav(bytes: Uint8Array): WavInfo | { error: string } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (o: number) => String.fromCharCode(...bytes.subarray(o, o + 4));
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') return { error: 'not a RIFF/WAVE file' };
  let fmt: Omit<WavInfo, 'dataBytes'> | undefined;
  let offset = 12;
  while (offset + 8 <= bytes.length) {
    const id = tag(offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > bytes.length) return { error: 'truncated fmt chunk' };
      fmt = { format: view.getUint16(body, true), channels: view.getUint16(body + 2, true), sampleRate: view.getUint32(body + 4, true), bitsPerSample: view.getUint16(body + 14, true) };
      if (fmt.channels === 0 || fmt.sampleRate === 0) return { error: 'fmt chunk has no channels or sample rate' };
    } else if (id === 'data') {
      if (!fmt) return { error: 'data chunk before fmt chunk' };
      return { ...fmt, dataBytes: Math.min(size, bytes.length - body) };
    }
    offset = body + size + (size % 2);
  }
  return { error: fmt ? 'no data chunk' : 'no fmt chunk' };
}

export async function checkAssets(ctx: CheckContext): Promise<void> {
  const cache = new Map<string, Promise<WavInfo | { error: string } | undefined>>();
  const jobs: Promise<void>[] = [];
  for (const { resource: r } of ctx.resources) {
    for (const f of audioFields(r)) {
      let p = cache.get(f.file);
      if (!p) {
        p = ctx.assets.read(f.file).then((bytes) => (bytes ? parseWav(bytes) : undefined));
        cache.set(f.file, p);
      }
      jobs.push(p.then((info) => {
        const at = ctx.at(r, f.path);
        if (!info) ctx.error('missing-file', at, `audio file ${f.file} does not exist or cannot be read`, 'Paths are relative to the repo root, e.g. prompts/welcome.wav; commit the file, or use text: to synthesize the prompt.');
        else if ('error' in info) ctx.error('invalid-audio', at, `audio file ${f.file} is not a readable WAV file: ${info.error}`, 'Convert it, e.g. `sox in.mp3 -r 8000 -c 1 -b 16 out.wav`.');
      }));
    }
  }
  await Promise.all(jobs);
}
