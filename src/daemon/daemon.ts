/**
 * The feature daemon process: SIP user agent behind Kamailio, RTPengine media, call flows, the
 * HTTP API. Wires the parts together; the behaviour lives in them (DESIGN.md "Features live in
 * the daemon").
 *
 * A call Kamailio hands over (docs/node-data.md "Calls handed to the feature daemon") gets the
 * feature config that is current when its INVITE arrives and keeps it to the end; a config reload
 * (POST /v1/config/reload, done by `pbxctl apply`) only affects calls that start later.
 */
import { randomUUID } from 'node:crypto';
import { PbxError } from '../lib/errors.js';
import { MediaSession, type MediaNg } from '../media/media-session.js';
import { RtpPortPool } from '../media/rtp-endpoint.js';
import { NgClient } from '../rtpengine/ng-client.js';
import { startMediaMonitor } from './media-monitor.js';
import { getHeader } from '../sip/headers.js';
import { SipTransport, type SipLogger } from '../sip/transport.js';
import { UserAgent, type ServerCall } from '../sip/user-agent.js';
import { startApi, type ApiRoute, type ApiServer } from './api.js';
import { CallRegistry } from './call-registry.js';
import { ConfigStore } from './config-store.js';
import { EventBus } from './events.js';
import { runCallFlow } from './flows/call-flow.js';
import { parseKamailioForward } from './destination-resolver.js';
import { createMetrics } from './metrics.js';
import { FileRingStateStore } from './ring-state-store.js';
import { daemonDbPath, openDaemonDb } from './store/database.js';
import { CdrService } from './cdr/cdr-service.js';
import { SipCallChannel } from './sip-channel.js';
import { startWebhooks } from './webhooks/service.js';
import { DigitQueue } from './tasks.js';
import { startQueues } from './queue/module.js';
import { startVoicemail } from './voicemail/module.js';
import { featureEntryHashes } from '../compile/feature-entries.js';
import { MwiService } from './mwi/mwi-service.js';
import { VoicemailEmailService, recentMessages } from './mwi/email.js';
import type { RetryPolicy } from './mwi/email-outbox.js';

/** The NG commands a MediaSession uses, each timed (seconds) into `observe`. */
function timedNg(ng: NgClient, observe: (command: string, seconds: number) => void): MediaNg {
  const time =
    <A extends unknown[], R>(command: string, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const start = performance.now();
      try {
        return await fn(...args);
      } finally {
        observe(command, (performance.now() - start) / 1000);
      }
    };
  return {
    offer: time('offer', ng.offer.bind(ng)),
    answer: time('answer', ng.answer.bind(ng)),
    delete: time('delete', ng.delete.bind(ng)),
    query: time('query', ng.query.bind(ng)),
    playMedia: time('play media', ng.playMedia.bind(ng)),
    stopMedia: time('stop media', ng.stopMedia.bind(ng)),
  };
}

/** Default interval of the in-dialog OPTIONS keepalive, ms (DaemonOptions.keepaliveMs). */
export const DEFAULT_KEEPALIVE_MS = 30_000;

/** How to run the daemon. Ports are integers; addresses are IP literals. */
export interface DaemonOptions {
  /** Node root (docs/node-data.md): the config is read from ROOT/current/daemon/features.json. */
  root: string;
  /** SIP listen address (UDP and TCP), also advertised in Via/Contact and SDP. */
  sipAddress: string;
  sipPort: number;
  /** Kamailio's SIP address: the only peer the daemon talks SIP with, and its outbound proxy. */
  kamailio: { host: string; port: number };
  /** RTPengine's NG socket. */
  ng: { host: string; port: number };
  /** HTTP API port on 127.0.0.1. */
  apiPort: number;
  /** Bearer token of the API. */
  token: string;
  /** The daemon's own RTP endpoints. */
  rtp: { min: number; max: number };
  /** Where persistent daemon state lives (ring-group rotation). */
  stateDir: string;
  /** Kamailio's evapi socket (call and registration events for CDRs and webhooks); none: only the daemon's own calls get CDRs. */
  evapi?: { host: string; port: number };
  /** Days to keep CDRs (default 365, cdr-service.ts). */
  cdrRetentionDays?: number;
  /**
   * Interval of the in-dialog OPTIONS keepalive on every confirmed call leg, ms (keepalive.ts); a
   * leg whose peer answers 408/481 or not at all ends the call. Default 30000; 0 disables it.
   */
  keepaliveMs?: number;
  /** Retry schedule of voicemail notification emails (default: 30 s doubling to 1 h, 8 attempts; email-outbox.ts). */
  voicemailEmailRetry?: Partial<RetryPolicy>;
  logger?: SipLogger;
}

/** A running daemon. */
export interface RunningDaemon {
  readonly sipPort: number;
  readonly apiPort: number;
  readonly events: EventBus;
  /** Stops taking calls, tears down calls in progress (within `graceMs`), closes every socket. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts the daemon. A node without a deployed feature config still starts (and answers new
 * calls 503) so that the first `pbxctl apply` can load one.
 * @throws the listen errors of the SIP transport or the API (e.g. EADDRINUSE), PbxError DAEMON_BAD_CONFIG
 */
export async function startDaemon(o: DaemonOptions): Promise<RunningDaemon> {
  const log = o.logger;
  const store = new ConfigStore(o.root);
  try {
    await store.reload();
  } catch (e) {
    if (!(e instanceof PbxError && e.code === 'DAEMON_NO_CONFIG')) throw e;
    log?.warn('no feature config deployed yet; calls are refused until pbxctl apply', { error: e.message });
  }
  const events = new EventBus();
  const registry = new CallRegistry(events);
  const metrics = createMetrics(events, () => registry.size, () => store.current?.config.version);
  const ringState = new FileRingStateStore(o.stateDir);
  // The durable store (CDRs, voicemail, webhook outbox, agent state): each module migrates its own tables.
  const db = openDaemonDb(daemonDbPath(o.stateDir));
  // HTTP routes the modules add to the API (api.ts ApiRoute).
  const routes: ApiRoute[] = [];
  // CDRs: Kamailio's dialog events (evapi) and the daemon's call events, stored in `db` (docs/cdr.md).
  const cdr = new CdrService({ db, events, ...(o.evapi ? { evapi: o.evapi } : {}), retentionDays: () => store.current?.config.cdr?.retentionDays ?? o.cdrRetentionDays, ...(log ? { logger: log } : {}) });
  routes.push(...cdr.routes());
  // ACD queues and agents (daemon/queue/, docs/queues.md): agent logins from `db`, API routes, metrics;
  // agents on calls Kamailio relays itself are busy (the CDR module's open dialogs, then the events).
  const queues = startQueues({ db, events, routes, registry: metrics.registry, queues: () => store.current?.config.queues ?? {}, timezone: () => store.current?.config.defaults.timezone ?? 'UTC', openDialogs: () => cdr.openDialogs() });
  // Webhooks (docs/webhooks.md): events -> durable outbox -> signed deliveries; resumes what a previous run left pending.
  const webhooks = startWebhooks({
    db, events, registry: metrics.registry,
    subscriptions: () => (store.current ? Object.values(store.current.config.webhooks ?? {}) : undefined),
    secrets: (id) => store.current?.secrets.webhooks[id],
    ...(log ? { log } : {}),
  });
  routes.push(...webhooks.routes);
  // Voicemail (daemon/voicemail/): store reconciled with its files, API routes, retention job.
  const voicemail = startVoicemail({ db, stateDir: o.stateDir, events, routes, retentionDays: () => store.current?.config.voicemail.retentionDays, ...(log ? { log } : {}) });
  const ngClient = new NgClient({ host: o.ng.host, port: o.ng.port, timeoutMs: 500, retries: 3 });
  const ng = timedNg(ngClient, (command, seconds) => metrics.ngLatency.observe({ command }, seconds));
  const ports = new RtpPortPool({ host: o.sipAddress, min: o.rtp.min, max: o.rtp.max });
  const transport = await SipTransport.listen({
    host: o.sipAddress,
    port: o.sipPort,
    protocols: ['UDP', 'TCP'],
    trustedPeers: [`${o.kamailio.host}:${o.kamailio.port}`],
    ...(log ? { logger: log } : {}),
  });
  const ua = new UserAgent({ transport, outboundProxy: { host: o.kamailio.host, port: o.kamailio.port, protocol: 'UDP' }, host: o.sipAddress, port: o.sipPort, contactUser: 'daemon', userAgentName: 'pbxctl-daemon', ...(log ? { logger: log } : {}) });
  // Message-waiting indication (RFC 3842, daemon/mwi/): SUBSCRIBE served by the UA, unsolicited NOTIFY through Kamailio.
  const mwi = new MwiService({ ua, events, config: () => store.current?.config, counts: voicemail.store, registry: metrics.registry, ...(log ? { logger: log } : {}) });
  mwi.start();
  // Voicemail to email (daemon/mwi/email.ts): durable outbox in `db`; resumes what a previous run left pending.
  const voicemailEmail = new VoicemailEmailService({ db, events, config: () => store.current, recent: recentMessages(voicemail.store), registry: metrics.registry, ...(o.voicemailEmailRetry ? { retry: o.voicemailEmailRetry } : {}), ...(log ? { logger: log } : {}) });
  voicemailEmail.start();
  routes.push(...voicemailEmail.routes());
  const flows = new Set<Promise<void>>();
  // Entry hashes of each loaded config, computed once per config (every plan asks for them).
  const entryHashes = new WeakMap<object, Record<string, string>>();
  const entriesOf = (config: object & Parameters<typeof featureEntryHashes>[0]) => {
    let e = entryHashes.get(config);
    if (!e) entryHashes.set(config, (e = Object.fromEntries(featureEntryHashes(config))));
    return e;
  };

  const handleInvite = async (call: ServerCall): Promise<void> => {
    const loaded = store.current;
    if (!loaded) return call.reject(503, { reason: 'No feature config deployed' });
    if (call.remoteSdp === undefined) return call.reject(488, { reason: 'SDP offer required' });
    let media: MediaSession;
    try {
      const endpoint = await ports.open();
      try {
        media = new MediaSession({ ng, callId: call.callId, callerTag: call.from.params.get('tag') ?? '', callerOffer: call.remoteSdp, endpoint, daemonTag: `d-${randomUUID().slice(0, 8)}` });
      } catch (e) {
        await endpoint.close();
        throw e;
      }
    } catch (e) {
      log?.warn('cannot set up media for a call', { callId: call.callId, error: e instanceof Error ? e.message : String(e) });
      return call.reject(e instanceof PbxError && e.code === 'RTP_NO_PORTS' ? 503 : 488);
    }
    const keepaliveMs = o.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
    const channel = new SipCallChannel({
      ua, call, media, domain: loaded.config.domain, onTask: (task, result) => metrics.tasksTotal.inc({ task, result }),
      ...(keepaliveMs > 0 ? { keepalive: { intervalMs: keepaliveMs, onProbe: (result) => { if (result === 'dead') log?.info('keepalive: a call leg stopped answering; ending the call', { callId: call.callId }); } } } : {}),
    });
    const dest = getHeader(call.request, 'X-PBX-Dest');
    const trunk = getHeader(call.request, 'X-PBX-Trunk');
    // Kamailio rang an extension it relays itself and one of its forwards applies (docs/node-data.md "Forwards").
    const forward = parseKamailioForward(getHeader(call.request, 'X-PBX-Forward'));
    let record;
    try {
      record = registry.start({ callId: call.callId, caller: channel.caller, dialed: channel.dialed, destination: dest ?? '', ...(trunk ? { trunk } : {}), configVersion: loaded.config.version });
    } catch {
      // The same Call-ID twice (a forked or looped INVITE): refuse the second.
      await media.destroy();
      return call.reject(482, { reason: 'Loop Detected' });
    }
    const digits = new DigitQueue(channel);
    try {
      await runCallFlow(
        {
          channel,
          config: loaded.config,
          promptDir: loaded.promptDir,
          digits,
          signal: AbortSignal.any([channel.hungUp, record.teardown.signal]),
          state: record.state,
          step: (step, detail) => registry.step(record, step, detail),
          now: () => new Date(),
          ringState,
          observeDtmfToAction: (ms) => metrics.dtmfToAction.observe(ms / 1000),
          queues: queues.manager,
          voicemail: voicemail.runtime(loaded.secrets.voicemailPins),
        },
        { dialed: channel.dialed, ...(dest ? { dest } : {}), ...(forward ? { forward } : {}) },
      );
    } finally {
      digits.close();
      await channel.hangup().catch(() => undefined);
    }
  };

  ua.onInvite((call) => {
    const flow = handleInvite(call).catch((e: unknown) => log?.error('call flow failed', { callId: call.callId, error: e instanceof Error ? e.stack : String(e) }));
    flows.add(flow);
    void flow.finally(() => flows.delete(flow));
  });

  let api: ApiServer;
  try {
    api = await startApi({
      port: o.apiPort,
      token: o.token,
      events,
      routes,
      control: {
        configVersion: () => store.current?.config.version,
        configInfo: () => {
          const c = store.current;
          return c ? { version: c.config.version, release: c.release, loadedAt: c.loadedAt, entries: entriesOf(c.config) } : {};
        },
        reloadConfig: async () => {
          const r = await store.reload();
          if (r.changed) events.publish({ type: 'config.loaded', version: r.version, ...(store.current ? { release: store.current.release } : {}) });
          if (r.changed) queues.reconfigure();
          return r;
        },
        liveCalls: () => registry.list(),
        evapiState: () => (cdr.evapi ? (cdr.evapi.connected ? 'connected' : 'disconnected') : undefined),
        hangupCall: async (callId) => {
          const r = registry.get(callId);
          if (!r) return false;
          r.teardown.abort(new Error('hung up through the API'));
          return true;
        },
        metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
      },
    });
  } catch (e) {
    await mwi.stop();
    await voicemailEmail.stop();
    await ua.close();
    await ngClient.close();
    await webhooks.stop();
    await cdr.close();
    voicemail.stop();
    queues.stop();
    db.close();
    throw e;
  }

  cdr.start();
  // Media health for `pbxctl calls tail`: RTPengine is only asked while someone follows the stream.
  const mediaMonitor = startMediaMonitor({
    query: (callId) => ngClient.query({ callId }),
    answeredCalls: () => registry.list().filter((c) => c.state === 'answered').map((c) => c.callId),
    publish: (e) => events.publish(e),
    watching: () => api.streams > 0,
  });

  return {
    sipPort: o.sipPort,
    apiPort: api.port,
    events,
    async stop(graceMs = 2000) {
      mediaMonitor.stop();
      await registry.drain(graceMs);
      await Promise.allSettled([...flows]);
      await api.close();
      await mwi.stop();
      await ua.close();
      await ringState.flush();
      await ngClient.close();
      // After the calls drained (their call.ended events are queued): buffered deliveries reach the outbox.
      await webhooks.stop();
      await cdr.close();
      voicemail.stop();
      queues.stop();
      await voicemailEmail.stop();
      db.close();
    },
  };
}
