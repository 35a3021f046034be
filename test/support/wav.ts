/** WAV files for tests: 16-bit mono 8 kHz PCM (what RTPengine's `play media` and our prompts use). */

/** A RIFF/WAVE file (44-byte header, format 1 = PCM) holding `samples`. */
export function pcmWav(samples: ArrayLike<number>): Buffer {
  const data = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) data.writeInt16LE(samples[i]!, i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(8000, 24);
  h.writeUInt32LE(16000, 28); // byte rate
  h.writeUInt16LE(2, 32); // block align
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

/** A 440 Hz tone, `ms` long. */
export function toneWav(ms: number): Buffer {
  return pcmWav(Array.from({ length: (8000 * ms) / 1000 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000))));
}

/** `samples` samples that all equal `fill` (distinct contents for distinct files). */
export function constantWav(fill: number, samples = 80): Buffer {
  return pcmWav(new Array<number>(samples).fill(fill));
}
