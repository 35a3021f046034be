import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../../src/daemon/events.js';
import { openDaemonDb, type Db } from '../../../src/daemon/store/database.js';
import { fetchSender, httpSender, WebhookDispatcher, type WebhookRequest, type WebhookResponse, type WebhookSubscription } from '../../../src/daemon/webhooks/dispatcher.js';
import type { MappableEvent } from '../../../src/daemon/webhooks/mapping.js';
import { Outbox } from '../../../src/daemon/webhooks/outbox.js';
import { startWebhooks } from '../../../src/daemon/webhooks/service.js';
import { verifySignature } from '../../../src/daemon/webhooks/signing.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const OLD = 'whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZA==';
const sub = (o: Partial<WebhookSubscription> = {}): WebhookSubscription => ({ id: 'crm', url: 'http://127.0.0.1:9/hook', events: ['*'], enabled: true, timeout: 2, maxAttempts: 3, ...o });
let seq = 0;
const ev = (type: string, fields: Record<string, unknown> = {}, at = Date.now()): MappableEvent => ({ type, at, seq: ++seq, ...fields });
const FAST = { baseMs: 5, capMs: 20 };

/** Polls until `check` holds. */
async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A sender answering from `answer` and recording every request. */
function recorder(answer: (req: WebhookRequest, n: number) => Promise<WebhookResponse> | WebhookResponse = () => ({ status: 200 })) {
  const requests: WebhookRequest[] = [];
  return { requests, send: async (req: WebhookRequest) => { requests.push(req); return answer(req, requests.length); } };
}

function dispatcher(db: Db, subs: WebhookSubscription[] | undefined, send: (r: WebhookRequest) => Promise<WebhookResponse>, extra: Partial<ConstructorParameters<typeof WebhookDispatcher>[0]> = {}) {
  const outbox = extra.outbox ?? new Outbox(db);
  const d = new WebhookDispatcher({ outbox, subscriptions: () => subs, secrets: (id) => (id === 'nosecret' ? undefined : [SECRET, OLD]), send, backoff: FAST, ...extra });
  d.start();
  return { d, outbox };
}

describe('webhook dispatcher', () => {
  it('sends subscribed events signed with both rotation secrets; the receiver verifies with either', async () => {
    const db = openDaemonDb(':memory:');
    const r = recorder();
    const { d, outbox } = dispatcher(db, [sub({ events: ['call.started', 'call.ended'] }), sub({ id: 'off', enabled: false })], r.send);
    expect(d.accept(ev('call.started', { callId: 'c1' }))).toBeDefined();
    expect(d.accept(ev('agent.state', { extension: '1001' }))).toBeUndefined();
    d.accept(ev('call.ended', { callId: 'c1' }));
    await until(() => outbox.counts().delivered === 2, 'two deliveries');
    expect(r.requests.map((q) => JSON.parse(q.body).type)).toEqual(['call.started', 'call.ended']);
    for (const q of r.requests) {
      expect(q.headers['content-type']).toBe('application/json');
      expect(q.timeoutMs).toBe(2000);
      expect(q.headers['webhook-signature']!.split(' ')).toHaveLength(2);
      expect(verifySignature(SECRET, q.headers, q.body)).toEqual({ ok: true });
      expect(verifySignature(OLD, q.headers, q.body)).toEqual({ ok: true });
      expect(verifySignature(SECRET, q.headers, q.body.replace('c1', 'c2')).ok).toBe(false);
    }
    await d.stop();
  });

  it('retries a failing receiver with the same webhook-id, then gives up into the dead-letter list', async () => {
    const db = openDaemonDb(':memory:');
    const r = recorder(() => ({ status: 500 }));
    const results: string[] = [];
    const { d, outbox } = dispatcher(db, [sub({ maxAttempts: 4 })], r.send, { onAttempt: (_w, result) => results.push(result) });
    d.accept(ev('voicemail.new', { mailbox: '1001' }));
    await until(() => outbox.counts().dead === 1, 'a dead letter');
    expect(r.requests).toHaveLength(4);
    expect(new Set(r.requests.map((q) => q.headers['webhook-id'])).size).toBe(1);
    expect(results).toEqual(['failed', 'failed', 'failed', 'dead']);
    expect(outbox.list({ status: 'dead' })[0]).toMatchObject({ attempts: 4, lastStatus: 500, lastError: 'HTTP 500' });
    await d.stop();
  });

  it('a receiver that recovers gets the delivery on a retry; network errors count as failures', async () => {
    const db = openDaemonDb(':memory:');
    const r = recorder((_q, n) => {
      if (n === 1) throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
      return { status: n === 2 ? 503 : 204 };
    });
    const { d, outbox } = dispatcher(db, [sub()], r.send);
    d.accept(ev('queue.joined', { queue: 'support' }));
    await until(() => outbox.counts().delivered === 1, 'delivery after retries');
    const row = outbox.list()[0]!;
    expect(row).toMatchObject({ attempts: 3, lastStatus: 204 });
    await d.stop();
  });

  it('a retry waiting keeps its time when the outbox is pumped while other rows of the webhook are due', async () => {
    const db = openDaemonDb(':memory:');
    let releaseB!: () => void;
    const bHeld = new Promise<void>((r) => (releaseB = r));
    const r = recorder(async (q, n) => {
      const kind = JSON.parse(q.body).data.kind as string;
      if (kind === 'a') return { status: n === 1 ? 500 : 200 };
      await bHeld;
      return { status: 200 };
    });
    const { d, outbox } = dispatcher(db, [sub()], r.send, { backoff: { baseMs: 200, capMs: 200 }, random: () => 0.999 });
    d.accept(ev('agent.state', { kind: 'a' }));
    await until(() => outbox.list()[0]?.attempts === 1, 'the first failure recorded');
    d.accept(ev('agent.state', { kind: 'b' }));
    await until(() => r.requests.length === 2, 'b in flight');
    d.flush(); // a full pump (as after a retry through the API) while b is due and in flight
    const t0 = Date.now();
    await until(() => r.requests.filter((q) => JSON.parse(q.body).data.kind === 'a').length === 2, 'the retry of a', 3000);
    expect(Date.now() - t0).toBeLessThan(1500);
    releaseB();
    await until(() => outbox.counts().delivered === 2, 'both delivered');
    await d.stop();
  });

  it('keeps at most `concurrency` requests in flight per webhook and starts the oldest events first', async () => {
    const db = openDaemonDb(':memory:');
    let inFlight = 0;
    let peak = 0;
    const r = recorder(async () => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((res) => setTimeout(res, 5));
      inFlight--;
      return { status: 200 };
    });
    const { d, outbox } = dispatcher(db, [sub()], r.send, { concurrency: 1 });
    const t0 = Date.now();
    // Published out of time order: the outbox orders by event time.
    for (let i = 0; i < 20; i++) d.accept(ev('agent.state', { n: i }, t0 - i));
    await until(() => outbox.counts().delivered === 20, '20 deliveries');
    expect(peak).toBe(1);
    expect(r.requests.map((q) => JSON.parse(q.body).data.n)).toEqual(Array.from({ length: 20 }, (_, i) => 19 - i));
    await d.stop();

    const r3 = recorder(async () => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((res) => setTimeout(res, 5));
      inFlight--;
      return { status: 200 };
    });
    peak = 0;
    const db3 = openDaemonDb(':memory:');
    const x = dispatcher(db3, [sub()], r3.send, { concurrency: 3 });
    for (let i = 0; i < 30; i++) x.d.accept(ev('agent.state', { n: i }));
    await until(() => x.outbox.counts().delivered === 30, '30 deliveries');
    expect(peak).toBe(3);
    await x.d.stop();
  });

  it('stop() aborts requests in flight and leaves them pending; the next run sends them with the same id', async () => {
    const db = openDaemonDb(':memory:');
    const hang = recorder((q) => new Promise((_res, rej) => q.signal.addEventListener('abort', () => rej(q.signal.reason))));
    const first = dispatcher(db, [sub()], hang.send);
    first.d.accept(ev('call.started', { callId: 'kill-me' }));
    await until(() => hang.requests.length === 1, 'the first attempt');
    await first.d.stop();
    expect(first.outbox.list()[0]).toMatchObject({ status: 'pending', attempts: 0 });
    const ok = recorder();
    const second = dispatcher(db, [sub()], ok.send);
    await until(() => second.outbox.counts().delivered === 1, 'the resumed delivery');
    expect(ok.requests[0]!.headers['webhook-id']).toBe(hang.requests[0]!.headers['webhook-id']);
    await second.d.stop();
  });

  it('pending deliveries of a webhook removed from the config become dead letters; none while no config is loaded', async () => {
    const db = openDaemonDb(':memory:');
    const outbox = new Outbox(db);
    outbox.enqueue([{ webhook: 'gone', message: { id: 'msg_1', type: 'agent.state', at: 1, body: '{}' } }], Date.now());
    const r = recorder();
    const noConfig = dispatcher(db, undefined, r.send, { outbox });
    await new Promise((res) => setTimeout(res, 20));
    expect(outbox.counts()).toMatchObject({ pending: 1, dead: 0 });
    await noConfig.d.stop();
    const withConfig = dispatcher(db, [sub()], r.send, { outbox });
    expect(outbox.list({ status: 'dead' })[0]).toMatchObject({ webhook: 'gone', lastError: 'webhook removed from the feature config' });
    expect(r.requests).toHaveLength(0);
    await withConfig.d.stop();
  });

  it('a webhook without a secret in the release is never sent unsigned', async () => {
    const db = openDaemonDb(':memory:');
    const r = recorder();
    const { d, outbox } = dispatcher(db, [sub({ id: 'nosecret', maxAttempts: 2 })], r.send);
    d.accept(ev('agent.state'));
    await until(() => outbox.counts().dead === 1, 'dead letter');
    expect(r.requests).toHaveLength(0);
    expect(outbox.list()[0]!.lastError).toMatch(/no signing secret/);
    await d.stop();
  });
});

describe.each([['httpSender', httpSender], ['fetchSender', fetchSender]] as const)('%s (real HTTP on loopback)', (_name, send) => {
  it('POSTs the exact body with the headers, does not follow redirects, reports Retry-After and times out', async () => {
    const got: { headers: IncomingMessage['headers']; body: string; url: string }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got.push({ headers: req.headers, body: Buffer.concat(chunks).toString(), url: req.url ?? '' });
        if (req.url === '/redirect') res.writeHead(302, { location: '/ok' }).end();
        else if (req.url === '/busy') res.writeHead(503, { 'retry-after': '7' }).end('later');
        else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end(), 2000);
        else res.writeHead(200).end('thanks');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const req = (path: string, timeoutMs = 2000): WebhookRequest => ({ url: base + path, headers: { 'content-type': 'application/json', 'webhook-id': 'msg_1' }, body: '{"a": 1}', timeoutMs, signal: new AbortController().signal });
    try {
      expect(await send(req('/ok'))).toEqual({ status: 200 });
      expect(got[0]).toMatchObject({ body: '{"a": 1}', url: '/ok' });
      expect(got[0]!.headers['webhook-id']).toBe('msg_1');
      expect(await send(req('/redirect'))).toEqual({ status: 302 });
      expect(got.map((g) => g.url)).toEqual(['/ok', '/redirect']);
      expect(await send(req('/busy'))).toEqual({ status: 503, retryAfter: '7' });
      await expect(send(req('/slow', 100))).rejects.toMatchObject({ name: 'TimeoutError' });
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const deadPort = (closed.address() as AddressInfo).port;
      await new Promise((r) => closed.close(r));
      await expect(send({ ...req('/ok'), url: `http://127.0.0.1:${deadPort}/` })).rejects.toThrow();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('httpSender keep-alive', () => {
  it('sends again once on a new connection when the receiver closed the pooled one', async () => {
    let requests = 0;
    const server = createServer((req, res) => {
      requests++;
      const socket = req.socket as typeof req.socket & { served?: number };
      socket.served = (socket.served ?? 0) + 1;
      req.resume();
      // The second request on a connection finds it closed, as after the receiver's idle timeout.
      if (socket.served > 1) socket.destroy();
      else req.on('end', () => res.writeHead(200).end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const req = (): WebhookRequest => ({ url, headers: { 'content-type': 'application/json' }, body: '{}', timeoutMs: 2000, signal: new AbortController().signal });
    try {
      expect(await httpSender(req())).toEqual({ status: 200 });
      expect(await httpSender(req())).toEqual({ status: 200 });
      expect(requests).toBe(3); // the reset one, then the same request on a fresh connection
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('webhook module API routes', () => {
  it('lists pending/dead deliveries and retries a dead one', async () => {
    const db = openDaemonDb(':memory:');
    const events = new EventBus();
    let fail = true;
    const m = startWebhooks({ db, events, registry: new Registry(), subscriptions: () => [sub({ maxAttempts: 1 })], secrets: () => [SECRET], backoff: FAST, send: async () => ({ status: fail ? 500 : 200 }) });
    const [list, retry] = m.routes;
    events.publish({ type: 'call.started', callId: 'c9', caller: { number: '+15550100' }, dialed: '+15550199', destination: 'ivr:main', configVersion: '0123456789abcdef' });
    await until(() => m.outbox.counts().dead === 1, 'dead letter');
    const dead = (await list!.handle({ params: [], query: new URLSearchParams('status=dead'), body: undefined })).body as { deliveries: { id: number; messageId: string }[] };
    expect(dead.deliveries).toHaveLength(1);
    expect((await list!.handle({ params: [], query: new URLSearchParams('status=pending'), body: undefined })).body).toEqual({ deliveries: [] });
    expect(() => list!.handle({ params: [], query: new URLSearchParams('status=nope'), body: undefined })).toThrow(/status must be/);
    expect(retry!.path.exec(`/v1/webhooks/deliveries/${dead.deliveries[0]!.id}/retry`)).not.toBeNull();
    fail = false;
    const r = await retry!.handle({ params: [String(dead.deliveries[0]!.id)], query: new URLSearchParams(), body: undefined });
    expect(r.status).toBe(200);
    await until(() => m.outbox.counts().delivered === 1, 'retried delivery');
    expect((await retry!.handle({ params: [String(dead.deliveries[0]!.id)], query: new URLSearchParams(), body: undefined })).status).toBe(409);
    expect((await retry!.handle({ params: ['424242'], query: new URLSearchParams(), body: undefined })).status).toBe(404);
    await m.stop();
  });
});
