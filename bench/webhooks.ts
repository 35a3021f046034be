/**
 * Webhook delivery benchmark (`npm run bench -- --sections webhooks [--webhook-burst 1000]
 * [--webhook-rate 200] [--webhook-seconds 5]`): the daemon's webhook module as it runs in the
 * daemon (EventBus -> SQLite outbox in WAL + synchronous=FULL on disk -> signed POSTs over
 * node:http keep-alive, 8 in flight per webhook) delivering to an HTTP receiver in a separate
 * process on loopback.
 *
 * Lag is "event published -> receiver got the request", the receiver's clock minus the event's
 * `timestamp` (one machine, one clock; ms resolution). Two loads:
 * - burst: N events published in one event-loop turn (e.g. a queue emptying, a restart backlog);
 * - stream: events at a steady rate, the normal case.
 * Figures: p50/p90/p99/max lag, deliveries per second, and the burst's drain time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Registry } from 'prom-client';
import { EventBus } from '../src/daemon/events.js';
import { openDaemonDb } from '../src/daemon/store/database.js';
import { startWebhooks } from '../src/daemon/webhooks/service.js';

/** Targets the report checks (the issue asks for the p99; these are ours). */
export const WEBHOOK_TARGETS = { burstP99Ms: 2000, streamP99Ms: 100 } as const;

export interface WebhookBenchOptions {
  /** Events in the burst. */
  burst: number;
  /** Events per second of the steady stream. */
  rate: number;
  /** Length of the stream, seconds. */
  seconds: number;
}

export const DEFAULT_WEBHOOK_OPTIONS: WebhookBenchOptions = { burst: 1000, rate: 200, seconds: 5 };

/** Lag figures of one load, ms. */
export interface LagFigures {
  events: number;
  delivered: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** First event published -> last delivery received. */
  drainMs: number;
  deliveriesPerSecond: number;
}

export interface WebhookBenchResult {
  options: WebhookBenchOptions;
  burst: LagFigures;
  stream: LagFigures;
}

/** The receiver: answers 204 and prints `<receive time ms> <event timestamp>` per request. */
const RECEIVER = `
import { createServer } from 'node:http';
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const now = performance.timeOrigin + performance.now();
    res.writeHead(204).end();
    const body = JSON.parse(Buffer.concat(chunks).toString());
    process.stdout.write(now.toFixed(3) + ' ' + Date.parse(body.timestamp) + ' ' + req.headers['webhook-id'] + '\\n');
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));
`;

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const r1 = (x: number) => Math.round(x * 10) / 10;

interface Receipt { receivedAt: number; eventAt: number; id: string }

async function startReceiver(): Promise<{ child: ChildProcess; port: number; receipts: Receipt[] }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', RECEIVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const receipts: Receipt[] = [];
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the receiver exited (${code})`)));
    lines.on('line', (line) => {
      if (line.startsWith('port ')) return resolve(Number(line.slice(5)));
      const [receivedAt, eventAt, id] = line.split(' ');
      receipts.push({ receivedAt: Number(receivedAt), eventAt: Number(eventAt), id: id ?? '' });
    });
  });
  return { child, port, receipts };
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`webhook bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function figures(receipts: Receipt[], events: number, firstAt: number): LagFigures {
  const lags = receipts.map((r) => r.receivedAt - r.eventAt).sort((a, b) => a - b);
  const last = Math.max(...receipts.map((r) => r.receivedAt));
  const drainMs = last - firstAt;
  return {
    events, delivered: receipts.length,
    p50Ms: r1(percentile(lags, 50)), p90Ms: r1(percentile(lags, 90)), p99Ms: r1(percentile(lags, 99)), maxMs: r1(lags.at(-1) ?? NaN),
    drainMs: r1(drainMs), deliveriesPerSecond: Math.round((receipts.length / drainMs) * 1000),
  };
}

/**
 * Runs both loads on a fresh database in a temporary directory.
 * @throws Error when a delivery is missing after 60 s, or the receiver dies
 */
export async function benchWebhooks(o: WebhookBenchOptions, log: (line: string) => void): Promise<WebhookBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'pbxctl-bench-webhooks-'));
  const receiver = await startReceiver();
  const db = openDaemonDb(join(dir, 'daemon.db'));
  const events = new EventBus();
  const sub = { id: 'bench', url: `http://127.0.0.1:${receiver.port}/hook`, events: ['*'], enabled: true, timeout: 10, maxAttempts: 10 };
  const mod = startWebhooks({ db, events, registry: new Registry(), subscriptions: () => [sub], secrets: () => ['whsec_YmVuY2gtd2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ=='] });
  try {
    const publish = (i: number) => events.publish({ type: 'agent.state', extension: String(1000 + (i % 100)), state: i % 2 ? 'available' : 'busy' });
    // Warm-up (connection, JIT): not counted.
    for (let i = 0; i < 50; i++) publish(i);
    await waitFor(() => receiver.receipts.length === 50, 30_000, 'the warm-up deliveries');
    receiver.receipts.length = 0;

    log(`  webhooks: burst of ${o.burst} events...`);
    const burstStart = performance.timeOrigin + performance.now();
    for (let i = 0; i < o.burst; i++) publish(i);
    await waitFor(() => receiver.receipts.length >= o.burst, 60_000, `${o.burst} burst deliveries`);
    const burst = figures(receiver.receipts.splice(0), o.burst, burstStart);

    const total = o.rate * o.seconds;
    log(`  webhooks: stream of ${o.rate} events/s for ${o.seconds} s...`);
    const streamStart = performance.timeOrigin + performance.now();
    let sent = 0;
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        // Catch up to the schedule (timers are coarse): events due by now.
        const due = Math.min(total, Math.floor(((performance.timeOrigin + performance.now() - streamStart) / 1000) * o.rate));
        while (sent < due) publish(sent++);
        if (sent >= total) {
          clearInterval(tick);
          resolve();
        }
      }, 5);
    });
    await waitFor(() => receiver.receipts.length >= total, 60_000, `${total} stream deliveries`);
    const stream = figures(receiver.receipts.splice(0), total, streamStart);
    const counts = mod.outbox.counts();
    if (counts.pending !== 0 || counts.dead !== 0) throw new Error(`webhook bench: outbox not drained: ${JSON.stringify(counts)}`);
    return { options: o, burst, stream };
  } finally {
    await mod.stop();
    db.close();
    receiver.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Human-readable lines of a result. */
export function webhooksReport(r: WebhookBenchResult): string[] {
  const line = (name: string, f: LagFigures, target: number) =>
    `  ${name}: lag p50 ${f.p50Ms} ms, p90 ${f.p90Ms} ms, p99 ${f.p99Ms} ms (target < ${target} ms: ${f.p99Ms < target ? 'ok' : 'MISSED'}), max ${f.maxMs} ms; ${f.delivered}/${f.events} delivered in ${f.drainMs} ms (${f.deliveriesPerSecond}/s)`;
  return [
    'webhook delivery (event published -> receiver got it; SQLite outbox WAL+FULL on disk, node:http keep-alive, 8 in flight, receiver in another process on loopback):',
    line(`burst of ${r.options.burst}`, r.burst, WEBHOOK_TARGETS.burstP99Ms),
    line(`stream ${r.options.rate}/s for ${r.options.seconds} s`, r.stream, WEBHOOK_TARGETS.streamP99Ms),
  ];
}

// Run alone: `npx tsx bench/webhooks.ts [burst] [rate] [seconds]`.
if (import.meta.url === `file://${process.argv[1]}`) {
  const [burst, rate, seconds] = process.argv.slice(2).map(Number);
  const o = { burst: burst || DEFAULT_WEBHOOK_OPTIONS.burst, rate: rate || DEFAULT_WEBHOOK_OPTIONS.rate, seconds: seconds || DEFAULT_WEBHOOK_OPTIONS.seconds };
  benchWebhooks(o, (l) => console.log(l)).then((r) => {
    for (const l of webhooksReport(r)) console.log(l);
  }, (e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
