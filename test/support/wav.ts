import { linearToMulaw } from '../../src/media/wav.js';

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

/** An Ethernet/IPv4/UDP/RTP pcap of PCMU packets, 20 ms apart (what sipp's play_pcap_audio reads). */
export function pcmuPcap(samples: Int16Array): Buffer {
  const global = Buffer.alloc(24);
  global.writeUInt32LE(0xa1b2c3d4, 0);
  global.writeUInt16LE(2, 4);
  global.writeUInt16LE(4, 6);
  global.writeUInt32LE(65535, 16);
  global.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  const parts: Buffer[] = [global];
  for (let k = 0; k * 160 < samples.length; k++) {
    const rtp = Buffer.alloc(12 + 160);
    rtp[0] = 0x80;
    rtp[1] = k === 0 ? 0x80 : 0x00; // PT 0, marker on the first packet
    rtp.writeUInt16BE(k & 0xffff, 2);
    rtp.writeUInt32BE(k * 160, 4);
    rtp.writeUInt32BE(0x1234abcd, 8);
    for (let i = 0; i < 160; i++) rtp[12 + i] = linearToMulaw(samples[k * 160 + i] ?? 0);
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(40000, 0);
    udp.writeUInt16BE(40002, 2);
    udp.writeUInt16BE(8 + rtp.length, 4);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + 8 + rtp.length, 2);
    ip[8] = 64;
    ip[9] = 17;
    Buffer.from([127, 0, 0, 1]).copy(ip, 12);
    Buffer.from([127, 0, 0, 1]).copy(ip, 16);
    const eth = Buffer.alloc(14);
    eth.writeUInt16BE(0x0800, 12);
    const frame = Buffer.concat([eth, ip, udp, rtp]);
    const rec = Buffer.alloc(16);
    const t = k * 20_000; // µs
    rec.writeUInt32LE(1_700_000_000 + Math.floor(t / 1e6), 0);
    rec.writeUInt32LE(t % 1e6, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    parts.push(rec, frame);
  }
  return Buffer.concat(parts);
}
