/**
 * The feature daemon's HTTP API, on loopback only (remote nodes are reached through an SSH tunnel),
 * every request authenticated with `Authorization: Bearer <token>` (compared in constant time).
 *
 *   GET  /v1/health          {status, uptimeS, configVersion, calls, evapi?}
 *   GET  /v1/config          {version, release, loadedAt, entries} (entries: feature-entries.ts hashes)
 *   POST /v1/config/reload   load ROOT/current/daemon/features.json; 200 {version, changed} or 422 {error}
 *   GET  /v1/calls           {calls: LiveCall[]}
 *   POST /v1/calls/:id/hangup  204, 404 when no such call
 *   GET  /v1/events          text/event-stream (server-sent events): `id: seq`, `event: type`,
 *                            `data: JSON`; resumes after `Last-Event-ID`; a comment line every 15 s
 *   GET  /metrics            Prometheus text exposition format
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { PbxError } from '../lib/errors.js';
import type { EventBus } from './events.js';

/** One live call as the API lists it. */
export interface LiveCall {
  callId: string;
  caller: { number: string; name?: string };
  dialed: string;
  destination: string;
  trunk?: string;
  state: string;
  /** The current flow step, e.g. `ivr:main`, `dial`, `bridged`. */
  step?: string;
  startedAt: number;
  answeredAt?: number;
  configVersion: string;
}

/** What the API needs from the daemon. */
export interface DaemonControl {
  configVersion(): string | undefined;
  configInfo(): { version?: string; release?: string; loadedAt?: number; entries?: Record<string, string> };
  /** Loads the current release's feature config; throws a PbxError with the reason when it is broken. */
  reloadConfig(): Promise<{ version: string; changed: boolean }>;
  liveCalls(): LiveCall[];
  /** Hangs a call up; false when there is no such call. */
  hangupCall(callId: string): Promise<boolean>;
  /** Prometheus exposition text and its content type. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /**
   * The feed of Kamailio's call events (CDRs of calls the daemon never sees, busy agents):
   * undefined when the daemon runs without `--evapi`.
   */
  evapiState?(): 'connected' | 'disconnected' | undefined;
}

/** What a module route answers: JSON `body`, or `text` with its `contentType` (CSV exports). */
export interface ApiReply {
  status: number;
  body?: unknown;
  text?: string;
  /** Binary content (voicemail audio) with its `contentType`. */
  bytes?: Uint8Array;
  contentType?: string;
}

/**
 * A route a daemon module adds to the API (CDRs, voicemail, queues, webhooks). `path` is matched
 * against the URL path; its capture groups arrive URI-decoded in `params`. JSON request bodies are
 * parsed before `handle` runs (400 when not JSON). A PbxError thrown by `handle` answers 422 with
 * `{error, code, hint}`.
 */
export interface ApiRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: RegExp;
  handle(req: { params: string[]; query: URLSearchParams; body: unknown }): Promise<ApiReply> | ApiReply;
}

/** Options of startApi(). */
export interface ApiOptions {
  /** Loopback address, `127.0.0.1` by default. */
  host?: string;
  port: number;
  token: string;
  events: EventBus;
  control: DaemonControl;
  /** Interval of SSE keep-alive comments, ms (15 s by default). */
  keepAliveMs?: number;
  /** Module routes, tried after the built-in ones. */
  routes?: readonly ApiRoute[];
}

/** A running API server. */
export interface ApiServer {
  readonly port: number;
  /** Clients following GET /v1/events right now. */
  readonly streams: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

/** Request bodies above this are refused (the API takes small JSON commands only). */
const MAX_BODY = 1 << 20;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function authorized(req: IncomingMessage, token: Buffer): boolean {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m?.[1]) return false;
  const given = Buffer.from(m[1]);
  return given.length === token.length && timingSafeEqual(given, token);
}

/**
 * Starts the API server.
 * @throws the listen error (e.g. EADDRINUSE) as-is
 */
export async function startApi(o: ApiOptions): Promise<ApiServer> {
  const token = Buffer.from(o.token);
  const startedAt = Date.now();
  const streams = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, { error: e instanceof Error ? e.message : String(e) });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!authorized(req, token)) {
      res.setHeader('www-authenticate', 'Bearer realm="pbxctl-daemon"');
      return send(res, 401, { error: 'missing or wrong bearer token' });
    }
    const url = new URL(req.url ?? '/', 'http://daemon');
    const route = `${req.method ?? 'GET'} ${url.pathname}`;
    const hangup = /^\/v1\/calls\/([^/]+)\/hangup$/.exec(url.pathname);
    if (route === 'GET /v1/health') {
      const evapi = o.control.evapiState?.();
      return send(res, 200, { status: 'ok', uptimeS: Math.round((Date.now() - startedAt) / 1000), configVersion: o.control.configVersion() ?? null, calls: o.control.liveCalls().length, ...(evapi ? { evapi } : {}) });
    }
    if (route === 'GET /v1/config') return send(res, 200, o.control.configInfo());
    if (route === 'POST /v1/config/reload') {
      try {
        return send(res, 200, await o.control.reloadConfig());
      } catch (e) {
        const err = e as { code?: string; message?: string; hint?: string };
        return send(res, 422, { error: err.message ?? String(e), code: err.code, hint: err.hint });
      }
    }
    if (route === 'GET /v1/calls') return send(res, 200, { calls: o.control.liveCalls() });
    if (hangup && req.method === 'POST') {
      return send(res, (await o.control.hangupCall(decodeURIComponent(hangup[1] ?? ''))) ? 204 : 404, undefined);
    }
    if (route === 'GET /v1/events') return stream(req, res, url);
    if (route === 'GET /metrics') {
      const m = await o.control.metrics();
      res.writeHead(200, { 'content-type': m.contentType }).end(m.body);
      return;
    }
    for (const r of o.routes ?? []) {
      const m = r.method === req.method ? r.path.exec(url.pathname) : null;
      if (!m) continue;
      let body: unknown;
      const raw = await readBody(req);
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          return send(res, 400, { error: 'request body is not JSON' });
        }
      }
      let reply: ApiReply;
      try {
        reply = await r.handle({ params: m.slice(1).map((p) => decodeURIComponent(p ?? '')), query: url.searchParams, body });
      } catch (e) {
        if (!(e instanceof PbxError)) throw e;
        return send(res, 422, { error: e.message, code: e.code, hint: e.hint });
      }
      if (reply.text !== undefined) {
        res.writeHead(reply.status, { 'content-type': reply.contentType ?? 'text/plain; charset=utf-8' }).end(reply.text);
        return;
      }
      if (reply.bytes !== undefined) {
        res.writeHead(reply.status, { 'content-type': reply.contentType ?? 'application/octet-stream', 'content-length': reply.bytes.byteLength }).end(reply.bytes);
        return;
      }
      return send(res, reply.status, reply.body);
    }
    return send(res, 404, { error: `no route ${route}` });
  }

  function stream(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const last = req.headers['last-event-id'] ?? url.searchParams.get('after') ?? undefined;
    const after = last === undefined ? undefined : Number(last);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    // Without Last-Event-ID a client starts from now; `lastSeq` tells it where "now" is.
    res.write(`: pbxctl-daemon events, last seq ${o.events.lastSeq}\n\n`);
    const { unsubscribe, gap } = o.events.subscribe((e) => {
      res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    }, Number.isFinite(after) ? after : undefined);
    if (gap) res.write(`event: gap\ndata: {"after":${after}}\n\n`);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), o.keepAliveMs ?? 15_000);
    streams.add(res);
    const done = () => {
      clearInterval(keepAlive);
      unsubscribe();
      streams.delete(res);
    };
    res.on('close', done);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: o.host ?? '127.0.0.1', port: o.port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    get streams() {
      return streams.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of streams) s.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
