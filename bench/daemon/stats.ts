/** Measurements read off the machine for the daemon section: percentiles, /proc (RSS, CPU ticks, UDP drops by socket), other processes that skew a run, the DTMF pcap timing. */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dist } from './types.js';
import { type BenchNode, SPAN, sippMediaPorts } from './node.js';

export const round = (x: number, digits = 0) => Number(x.toFixed(digits));
/** Nearest-rank percentile. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}
export function dist(xs: readonly number[]): Dist | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: round(percentile(s, 50), 1), p90: round(percentile(s, 90), 1), p99: round(percentile(s, 99), 1), max: round(s[s.length - 1]!, 1) };
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export const read = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/** Local ports bound by anyone (UDP and TCP, v4 and v6), from /proc/net. */
export function boundLocalPorts(): Set<number> {
  const ports = new Set<number>();
  for (const f of ['/proc/net/udp', '/proc/net/udp6', '/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      if (!local) continue;
      const port = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
      if (Number.isInteger(port)) ports.add(port);
    }
  }
  return ports;
}

export function vmRssKB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** utime + stime of `pid`, in clock ticks (USER_HZ, 100 on Linux). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Machine-wide [busy, total] jiffies from /proc/stat. */
/**
 * Machine-wide jiffies from /proc/stat: [busy (user, nice, system, irq, softirq), steal, total].
 * Steal is time the hypervisor gave this VM's CPUs to someone else.
 */
export function machineTicks(): [number, number, number] {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
  return [user + nice + system + irq + softirq, steal, cpu.reduce((a, b) => a + b, 0)];
}

/** Machine-wide UDP counters (/proc/net/snmp): datagrams dropped because a socket's receive buffer was full. */
export function udpDrops(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  return Number(values[names.indexOf('RcvbufErrors')] ?? 0);
}

/** Socket inodes a process holds (/proc/PID/fd links `socket:[INODE]`). */
export function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) out.add(m[1]!);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // gone
  }
  return out;
}

/** The node's UDP sockets (/proc/net/udp): inode, what it is, datagrams it dropped so far (a full receive buffer). */
export function udpSockets(node: BenchNode): { inode: string; label: string; drops: number }[] {
  const p = node.ports;
  const daemonInodes = socketInodes(node.daemon.pid);
  const out: { inode: string; label: string; drops: number }[] = [];
  for (const line of read('/proc/net/udp').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    const port = parseInt(f[1]!.slice(f[1]!.lastIndexOf(':') + 1), 16);
    const label =
      port === p.sip ? 'kamailio SIP'
      : port === p.ng ? 'rtpengine NG'
      : port === p.daemonSip ? 'daemon SIP'
      : port >= p.rtpMin && port <= p.rtpMax ? 'rtpengine RTP'
      : port >= p.daemonRtpMin && port <= p.daemonRtpMax ? 'daemon RTP'
      : daemonInodes.has(f[9]!) ? 'daemon NG client'
      : sippMediaPorts.has(port) ? 'sipp media (never read by sipp)'
      : port >= p.base && port < p.base + SPAN ? `sipp udp:${port}`
      : undefined;
    if (label) out.push({ inode: f[9]!, label, drops: Number(f[f.length - 1]) || 0 });
  }
  return out;
}

/**
 * Watches the node's UDP sockets during a run (every 500 ms, so sockets of calls that end are
 * seen too) and the machine-wide RcvbufErrors counter; stop() gives the datagrams dropped meanwhile.
 */
export function watchDrops(node: BenchNode) {
  const initial = new Map(udpSockets(node).map((x) => [x.inode, x.drops]));
  const total0 = udpDrops();
  const seen = new Map<string, { label: string; drops: number }>();
  const poll = () => {
    for (const x of udpSockets(node)) {
      const d = x.drops - (initial.get(x.inode) ?? 0);
      if (d > 0) seen.set(x.inode, { label: x.label, drops: Math.max(d, seen.get(x.inode)?.drops ?? 0) });
    }
  };
  const timer = setInterval(poll, 500);
  return {
    stop(): { udpDrops: number; udpDropsBySocket: Record<string, number> } {
      clearInterval(timer);
      poll();
      const bySocket: Record<string, number> = {};
      for (const { label, drops } of seen.values()) bySocket[label] = (bySocket[label] ?? 0) + drops;
      return { udpDrops: udpDrops() - total0, udpDropsBySocket: bySocket };
    },
  };
}

/** Other vitest or sipp processes on the machine (not ours): their CPU skews the figures. */
export function otherActivity(ours: ReadonlySet<number>): string[] {
  const out: string[] = [];
  for (const d of readdirSync('/proc')) {
    const pid = Number(d);
    if (!Number.isInteger(pid) || ours.has(pid) || pid === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      if (/\bvitest\b|(^|\/)sipp\b/.test(cmd)) out.push(`${pid} ${cmd.slice(0, 100)}`);
    } catch {
      // gone
    }
  }
  return out;
}

/** Offset (ms) of the first RFC 4733 end packet from the first packet of a dtmf_2833 pcap. */
export function dtmfEndOffsetMs(pcapFile: string): number {
  const f = readFileSync(pcapFile);
  const le = f.readUInt32LE(0) === 0xa1b2c3d4;
  const u32 = (o: number) => (le ? f.readUInt32LE(o) : f.readUInt32BE(o));
  const linkType = u32(20);
  const l2 = linkType === 1 ? 14 : linkType === 113 ? 16 : 0;
  let off = 24;
  let t0: number | undefined;
  while (off + 16 <= f.length) {
    const t = u32(off) * 1000 + u32(off + 4) / 1000;
    const len = u32(off + 8);
    const pkt = f.subarray(off + 16, off + 16 + len);
    off += 16 + len;
    t0 ??= t;
    const ihl = (pkt[l2]! & 0x0f) * 4;
    const rtp = pkt.subarray(l2 + ihl + 8);
    if (rtp.length >= 16 && (rtp[13]! & 0x80) !== 0) return t - t0;
  }
  throw new Error(`${pcapFile}: no RFC 4733 end packet`);
}

/** CPU of the daemon (% of one core) and of the machine (% busy) between start() and stop(). */
export function cpuMeter(pid: number) {
  const c0 = cpuTicks(pid);
  const m0 = machineTicks();
  const w0 = performance.now();
  return () => {
    const s = (performance.now() - w0) / 1000;
    const m1 = machineTicks();
    const total = Math.max(1, m1[2] - m0[2]);
    return {
      daemonPercentOfCore: round(((cpuTicks(pid) - c0) / 100 / s) * 100),
      machineBusyPercent: round(((m1[0] - m0[0]) / total) * 100),
      stealPercent: round(((m1[1] - m0[1]) / total) * 100),
    };
  };
}
