/** The daemon's HTTP API as the benchmark reads it: requests, the event stream (GET /v1/events) and Prometheus metrics (histograms, the per-second sampler). */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DaemonEvent } from '../../src/daemon/events.js';
import { machineTicks, vmRssKB } from './stats.js';
import type { BenchNode } from './node.js';
import { liveCalls } from './sipp.js';

export function api(port: number, token: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${token}` }, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

export function apiPost(port: number, token: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers: { authorization: `Bearer ${token}` }, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`POST ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** The daemon's event stream (GET /v1/events), kept in memory, with the number of calls live. */
export class EventTap {
  readonly events: DaemonEvent[] = [];
  live = 0;
  peak = 0;
  private readonly req: http.ClientRequest;

  private constructor(req: http.ClientRequest) {
    this.req = req;
  }

  static open(port: number, token: string): Promise<EventTap> {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/v1/events', headers: { authorization: `Bearer ${token}` } });
      const tap = new EventTap(req);
      req.on('response', (res) => {
        if (res.statusCode !== 200) return reject(new Error(`GET /v1/events answered ${res.statusCode}`));
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (chunk: string) => {
          buf += chunk;
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = block.split('\n').find((l) => l.startsWith('data: '));
            if (data) tap.add(JSON.parse(data.slice(6)) as DaemonEvent);
          }
        });
        res.on('error', () => undefined);
        resolve(tap);
      });
      req.on('error', reject);
    });
  }

  private add(e: DaemonEvent): void {
    this.events.push(e);
    if (e.type === 'call.started') this.live++;
    else if (e.type === 'call.ended') this.live--;
    this.peak = Math.max(this.peak, this.live);
  }

  close(): void {
    this.req.destroy();
  }
}

/** The value of an unlabelled sample `name` in Prometheus text. */
export function metric(text: string, name: string, label?: string): number | undefined {
  const labels = label === undefined ? '(?:\\{[^}]*\\})?' : `\\{[^}]*${label}[^}]*\\}`;
  const m = new RegExp(`^${name}${labels} ([^\\s]+)`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

export interface Hist {
  buckets: [number, number][];
  count: number;
  sum: number;
}

/** A histogram from Prometheus text; `label` (e.g. `command="offer"`) picks one series of a labelled one. */
export function histogram(text: string, name: string, label?: string): Hist {
  const buckets: [number, number][] = [];
  const post = label === undefined ? '' : `,${label}`;
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"${post}\\} (\\S+)`, 'gm'))) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  return { buckets: buckets.sort((a, b) => a[0] - b[0]), count: metric(text, `${name}_count`, label) ?? 0, sum: metric(text, `${name}_sum`, label) ?? 0 };
}

/** The label values of `key` in a labelled metric's samples. */
export function labelValues(text: string, name: string, key: string): string[] {
  return [...new Set([...text.matchAll(new RegExp(`^${name}_count\\{[^}]*${key}="([^"]+)"`, 'gm'))].map((m) => m[1]!))];
}

export function histDiff(a: Hist, b: Hist): Hist {
  return { buckets: b.buckets.map(([le, c], i) => [le, c - (a.buckets[i]?.[1] ?? 0)]), count: b.count - a.count, sum: b.sum - a.sum };
}

/** Quantile of a cumulative histogram: the bucket bound it falls under, and linear interpolation inside the bucket. */
export function histQuantile(h: Hist, q: number): { bound: number; interpolated: number } | undefined {
  if (h.count <= 0) return undefined;
  const rank = q * h.count;
  let prevLe = 0;
  let prevCum = 0;
  for (const [le, cum] of h.buckets) {
    if (cum >= rank) {
      if (!Number.isFinite(le)) return { bound: Infinity, interpolated: prevLe };
      return { bound: le, interpolated: prevLe + ((le - prevLe) * (rank - prevCum)) / Math.max(1, cum - prevCum) };
    }
    prevLe = le;
    prevCum = cum;
  }
  return undefined;
}

/**
 * Samples the daemon while a run goes on: VmRSS and GET /v1/health (calls in progress) every
 * 250 ms; /metrics (event-loop lag) and GET /v1/calls (which calls reached `ivr:second`) every second.
 */
export function startSampler(node: BenchNode) {
  const rss: number[] = [];
  const lagP99: number[] = [];
  const lagMax: number[] = [];
  /** Share of the machine's CPU time stolen by the hypervisor in the second before each scrape, %. */
  const steal: number[] = [];
  let ticks = machineTicks();
  const reachedSecond = new Set<string>();
  let peakLive = 0;
  let running = true;
  const loop = (async () => {
    let tick = 0;
    while (running) {
      const kb = vmRssKB(node.daemon.pid);
      if (kb !== undefined) rss.push(kb);
      try {
        peakLive = Math.max(peakLive, await liveCalls(node));
        if (tick++ % 4 === 3) {
          const m = (await api(node.ports.daemonApi, node.token, '/metrics')).body;
          const p99 = metric(m, 'nodejs_eventloop_lag_p99_seconds');
          const max = metric(m, 'nodejs_eventloop_lag_max_seconds');
          const now = machineTicks();
          if (p99 !== undefined) {
            lagP99.push(p99 * 1000);
            steal.push(((now[1] - ticks[1]) / Math.max(1, now[2] - ticks[2])) * 100);
          }
          ticks = now;
          if (max !== undefined) lagMax.push(max * 1000);
          const { calls } = JSON.parse((await api(node.ports.daemonApi, node.token, '/v1/calls')).body) as { calls: { callId: string; step?: string }[] };
          peakLive = Math.max(peakLive, calls.length);
          for (const c of calls) if (c.step === 'ivr:second') reachedSecond.add(c.callId);
        }
      } catch {
        // a missed sample is not a failure of the daemon
      }
      await sleep(250);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { rss, lagP99, lagMax, steal, peakLive, reachedSecond };
    },
  };
}
