import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { startApi, type ApiServer, type DaemonControl, type LiveCall } from '../../src/daemon/api.js';
import { EventBus } from '../../src/daemon/events.js';
import { createMetrics } from '../../src/daemon/metrics.js';
import { PbxError } from '../../src/lib/errors.js';

const TOKEN = 'test-token-0123456789';

function get(port: number, path: string, o: { token?: string; method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: { ...(o.token === undefined ? {} : { authorization: `Bearer ${o.token}` }), ...o.headers } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Reads a server-sent event stream until `count` events arrived. */
function readEvents(port: number, count: number, headers: Record<string, string> = {}): Promise<{ id: string; event: string; data: unknown }[]> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/v1/events', headers: { authorization: `Bearer ${TOKEN}`, ...headers } }, (res) => {
      let buf = '';
      const events: { id: string; event: string; data: unknown }[] = [];
      res.on('data', (c: Buffer) => {
        buf += c.toString();
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const fields = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
          if (fields.event) events.push({ id: fields.id ?? '', event: fields.event, data: JSON.parse(fields.data ?? 'null') });
          if (events.length === count) {
            req.destroy();
            resolve(events);
          }
        }
      });
    });
    req.on('error', (e) => (e.message.includes('aborted') || e.message.includes('socket hang up') ? undefined : reject(e)));
    req.end();
  });
}

describe('daemon HTTP API', () => {
  let api: ApiServer | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  function control(over: Partial<DaemonControl> = {}): DaemonControl {
    const calls: LiveCall[] = [{ callId: 'abc', caller: { number: '+15551230000' }, dialed: '+15550100', destination: 'ivr:main', state: 'answered', startedAt: 1, configVersion: 'v1' }];
    return {
      configVersion: () => 'v1',
      configInfo: () => ({ version: 'v1', release: 'r1', loadedAt: 1 }),
      reloadConfig: async () => ({ version: 'v2', changed: true }),
      liveCalls: () => calls,
      hangupCall: async (id) => id === 'abc',
      metrics: async () => ({ contentType: 'text/plain', body: 'm 1\n' }),
      ...over,
    };
  }

  it('refuses requests without the bearer token, with a wrong one, and with a longer one', async () => {
    api = await startApi({ port: 0, token: TOKEN, events: new EventBus(), control: control() });
    expect((await get(api.port, '/v1/health')).status).toBe(401);
    expect((await get(api.port, '/v1/health', { token: 'wrong' })).status).toBe(401);
    expect((await get(api.port, '/v1/health', { token: `${TOKEN}x` })).status).toBe(401);
    const ok = await get(api.port, '/v1/health', { token: TOKEN });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ status: 'ok', configVersion: 'v1', calls: 1 });
    expect(JSON.parse(ok.body)).not.toHaveProperty('evapi');
  });

  it('reports the evapi feed in the health answer when the daemon follows Kamailio\'s events', async () => {
    let state: 'connected' | 'disconnected' = 'connected';
    api = await startApi({ port: 0, token: TOKEN, events: new EventBus(), control: control({ evapiState: () => state }) });
    expect(JSON.parse((await get(api.port, '/v1/health', { token: TOKEN })).body)).toMatchObject({ status: 'ok', evapi: 'connected' });
    state = 'disconnected';
    expect(JSON.parse((await get(api.port, '/v1/health', { token: TOKEN })).body)).toMatchObject({ evapi: 'disconnected' });
  });

  it('serves config, calls, hangup and 404 for unknown routes', async () => {
    api = await startApi({ port: 0, token: TOKEN, events: new EventBus(), control: control() });
    expect(JSON.parse((await get(api.port, '/v1/config', { token: TOKEN })).body)).toEqual({ version: 'v1', release: 'r1', loadedAt: 1 });
    expect(JSON.parse((await get(api.port, '/v1/calls', { token: TOKEN })).body).calls[0].callId).toBe('abc');
    expect((await get(api.port, '/v1/calls/abc/hangup', { token: TOKEN, method: 'POST' })).status).toBe(204);
    expect((await get(api.port, '/v1/calls/nope/hangup', { token: TOKEN, method: 'POST' })).status).toBe(404);
    expect((await get(api.port, '/v1/nothing', { token: TOKEN })).status).toBe(404);
  });

  it('answers a config reload that fails with 422 and the reason', async () => {
    api = await startApi({
      port: 0,
      token: TOKEN,
      events: new EventBus(),
      control: control({
        reloadConfig: async () => {
          throw new PbxError('DAEMON_BAD_CONFIG', 'features.json: formatVersion 9 is not supported', { hint: 're-apply' });
        },
      }),
    });
    const r = await get(api.port, '/v1/config/reload', { token: TOKEN, method: 'POST' });
    expect(r.status).toBe(422);
    expect(JSON.parse(r.body)).toEqual({ error: 'features.json: formatVersion 9 is not supported', code: 'DAEMON_BAD_CONFIG', hint: 're-apply' });
  });

  it('streams events as server-sent events and resumes after Last-Event-ID', async () => {
    const bus = new EventBus();
    api = await startApi({ port: 0, token: TOKEN, events: bus, control: control() });
    const live = readEvents(api.port, 2);
    await new Promise((r) => setTimeout(r, 100));
    bus.publish({ type: 'call.step', callId: 'abc', step: 'ivr', detail: { ivr: 'main' } });
    bus.publish({ type: 'call.state', callId: 'abc', state: 'answered', from: 'initiated' });
    const got = await live;
    expect(got.map((e) => [e.id, e.event])).toEqual([
      ['1', 'call.step'],
      ['2', 'call.state'],
    ]);
    expect(got[0]?.data).toMatchObject({ seq: 1, callId: 'abc', detail: { ivr: 'main' } });
    bus.publish({ type: 'config.loaded', version: 'v2' });
    const resumed = await readEvents(api.port, 2, { 'last-event-id': '1' });
    expect(resumed.map((e) => e.id)).toEqual(['2', '3']);
  });

  it('serves Prometheus metrics with call counters and the event-loop lag', async () => {
    const bus = new EventBus();
    const metrics = createMetrics(bus, () => 3, () => 'v1');
    bus.publish({ type: 'call.ended', callId: 'abc', state: 'completed', durationMs: 1000, billableMs: 500 });
    api = await startApi({
      port: 0,
      token: TOKEN,
      events: bus,
      control: control({ metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }) }),
    });
    const r = await get(api.port, '/metrics', { token: TOKEN });
    expect(r.body).toContain('pbx_calls_total{state="completed"} 1');
    expect(r.body).toContain('pbx_calls_active 3');
    expect(r.body).toContain('pbx_feature_config_info{version="v1"} 1');
    expect(r.body).toContain('nodejs_eventloop_lag_p99_seconds');
  });

  it('serves module routes: params, query, JSON bodies, text replies and PbxErrors as 422', async () => {
    const seen: unknown[] = [];
    api = await startApi({
      port: 0,
      token: TOKEN,
      events: new EventBus(),
      control: control(),
      routes: [
        { method: 'GET', path: /^\/v1\/things\/([^/]+)$/, handle: ({ params, query }) => ({ status: 200, body: { id: params[0], q: query.get('q') } }) },
        { method: 'GET', path: /^\/v1\/things\.csv$/, handle: () => ({ status: 200, text: 'a,b\n', contentType: 'text/csv' }) },
        { method: 'POST', path: /^\/v1\/things$/, handle: ({ body }) => (seen.push(body), { status: 201, body: { ok: true } }) },
        { method: 'DELETE', path: /^\/v1\/things\/x$/, handle: () => { throw new PbxError('NO_THING', 'no thing x', { hint: 'make one' }); } },
      ],
    });
    const one = await get(api.port, '/v1/things/a%20b?q=1', { token: TOKEN });
    expect([one.status, JSON.parse(one.body)]).toEqual([200, { id: 'a b', q: '1' }]);
    const csv = await get(api.port, '/v1/things.csv', { token: TOKEN });
    expect([csv.status, csv.headers['content-type'], csv.body]).toEqual([200, 'text/csv', 'a,b\n']);
    const bad = await get(api.port, '/v1/things/x', { token: TOKEN, method: 'DELETE' });
    expect([bad.status, JSON.parse(bad.body)]).toEqual([422, { error: 'no thing x', code: 'NO_THING', hint: 'make one' }]);
    expect((await get(api.port, '/v1/things', { token: TOKEN, method: 'PUT' })).status).toBe(404);
    expect((await get(api.port, '/v1/things/a', { method: 'GET' })).status).toBe(401);
    const posted = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: api!.port, path: '/v1/things', method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } }, (res) => resolve(res.statusCode ?? 0));
      req.on('error', reject);
      req.end(JSON.stringify({ n: 1 }));
    });
    expect(posted).toBe(201);
    expect(seen).toEqual([{ n: 1 }]);
  });
});
