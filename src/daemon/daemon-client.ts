/**
 * Client of the feature daemon's HTTP API (api.ts), used by plan/apply (running config, reload),
 * `pbxctl status` and, later, `pbxctl calls`. Loopback or an SSH-forwarded port; bearer token.
 */
import { request } from 'node:http';
import { PbxError } from '../lib/errors.js';
import type { LiveCall } from './api.js';
import type { AgentAction, AgentActionReply, QueuesReply } from './queue/api.js';
import type { CdrPage } from './cdr/cdr-types.js';
import type { VoicemailBoxesReply, VoicemailMessagesReply } from './voicemail/module.js';

/** Where the daemon's API is and how to authenticate. */
export interface DaemonEndpoint {
  host: string;
  port: number;
  token: string;
}

/** The running feature config as the daemon reports it. */
export interface DaemonConfigInfo {
  version?: string;
  release?: string;
  loadedAt?: number;
  /** Per-feature content hashes of the running config (feature-entries.ts), keyed by entry id. */
  entries?: Record<string, string>;
}

/** Thrown when the daemon cannot be reached (not running, wrong port): code DAEMON_UNREACHABLE. */
export function daemonUnreachable(ep: DaemonEndpoint, cause: unknown): PbxError {
  return new PbxError('DAEMON_UNREACHABLE', `the feature daemon's API at ${ep.host}:${ep.port} does not answer (${cause instanceof Error ? cause.message : String(cause)})`, {
    hint: 'Start it: `pbxctl lab up` for the lab node, `systemctl start pbxctl-daemon` on a node.',
    cause,
  });
}

/** A small typed client; every method throws PbxError DAEMON_UNREACHABLE / DAEMON_API_ERROR. */
export class DaemonClient {
  constructor(
    readonly endpoint: DaemonEndpoint,
    private readonly timeoutMs = 5000,
  ) {}

  /**
   * GET /v1/cdrs (`format: 'json'`, one page) or GET /v1/cdrs.csv (`format: 'csv'`, every match up
   * to `limit`), with the filters as query parameters (cdr-api.ts).
   * @throws PbxError CDR_BAD_QUERY with the daemon's reason for a filter it refused; DAEMON_API_ERROR otherwise
   */
  async cdrs(filters: Record<string, string | number | undefined>, format: 'json'): Promise<CdrPage>;
  async cdrs(filters: Record<string, string | number | undefined>, format: 'csv'): Promise<string>;
  async cdrs(filters: Record<string, string | number | undefined>, format: 'json' | 'csv'): Promise<CdrPage | string> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) if (v !== undefined && v !== '') qs.set(k, String(v));
    const r = await this.call<CdrPage & { error?: string; code?: string; hint?: string }>('GET', `/v1/cdrs${format === 'csv' ? '.csv' : ''}?${qs.toString()}`);
    if (r.status === 422) throw new PbxError('CDR_BAD_QUERY', r.body.error ?? 'the daemon refused the CDR query', r.body.hint ? { hint: r.body.hint } : {});
    if (r.status !== 200) throw new PbxError('DAEMON_API_ERROR', `the feature daemon answered GET /v1/cdrs with ${r.status}`, { hint: 'A daemon older than CDR support has no /v1/cdrs: upgrade the node.' });
    return r.body;
  }

  private call<T>(method: string, path: string): Promise<{ status: number; body: T; bytes: Buffer; contentType?: string }> {
    const ep = this.endpoint;
    return new Promise((resolve, reject) => {
      const req = request({ host: ep.host, port: ep.port, method, path, headers: { authorization: `Bearer ${ep.token}` }, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = text === '' ? undefined : JSON.parse(text);
          } catch {
            body = text;
          }
          const status = res.statusCode ?? 0;
          if (status === 401) return reject(new PbxError('DAEMON_API_ERROR', `the feature daemon refused the API token (401)`, { hint: 'The token file of this node does not match the daemon\'s; restart the lab or fix the token file.' }));
          const contentType = res.headers['content-type'];
          resolve({ status, body: body as T, bytes: Buffer.concat(chunks), ...(contentType ? { contentType } : {}) });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (e) => reject(daemonUnreachable(ep, e)));
      req.end();
    });
  }

  /**
   * GET /v1/config: the running config's version, release and per-feature entries (`{}` while the
   * daemon has loaded none).
   * @throws PbxError DAEMON_API_ERROR when it answers anything but 200 (plans must not read a
   *   failure as "no config")
   */
  async config(): Promise<DaemonConfigInfo> {
    const r = await this.call<DaemonConfigInfo & { error?: string }>('GET', '/v1/config');
    if (r.status !== 200) {
      throw new PbxError('DAEMON_API_ERROR', `the feature daemon answered GET /v1/config with ${r.status}${r.body?.error ? `: ${r.body.error}` : ''}`, { hint: 'See the daemon\'s log (`pbxctl lab logs` for the lab node).' });
    }
    return r.body ?? {};
  }

  /**
   * POST /v1/config/reload: the daemon loads ROOT/current/daemon/features.json.
   * @throws PbxError DAEMON_RELOAD_FAILED with the daemon's reason when it refused the config
   */
  async reload(): Promise<{ version: string; changed: boolean }> {
    const r = await this.call<{ version: string; changed: boolean; error?: string; hint?: string }>('POST', '/v1/config/reload');
    if (r.status !== 200) throw new PbxError('DAEMON_RELOAD_FAILED', `the feature daemon refused the new config: ${r.body.error ?? r.status}`, r.body.hint ? { hint: r.body.hint } : {});
    return r.body;
  }

  /** GET /v1/health. */
  async health(): Promise<{ status: string; uptimeS: number; configVersion: string | null; calls: number; evapi?: 'connected' | 'disconnected' }> {
    return (await this.call<{ status: string; uptimeS: number; configVersion: string | null; calls: number }>('GET', '/v1/health')).body;
  }

  /** GET /v1/calls. */
  async calls(): Promise<LiveCall[]> {
    return (await this.call<{ calls: LiveCall[] }>('GET', '/v1/calls')).body.calls;
  }

  /** POST /v1/calls/:id/hangup; false when the daemon has no such call. */
  async hangup(callId: string): Promise<boolean> {
    return (await this.call('POST', `/v1/calls/${encodeURIComponent(callId)}/hangup`)).status === 204;
  }

  /**
   * POST /v1/queues/agents/:ext/:action (queue/api.ts): log an agent in / out, pause or unpause it,
   * in `queue` or every queue it serves. Durable on the node before it returns.
   * @throws PbxError with the daemon's code (QUEUE_UNKNOWN, QUEUE_NOT_AGENT, QUEUE_NOT_LOGGED_IN) and hint when it refuses
   */
  async queueAgent(action: AgentAction, extension: string, o: { queue?: string; reason?: string } = {}): Promise<AgentActionReply> {
    const q = new URLSearchParams();
    if (o.queue !== undefined) q.set('queue', o.queue);
    if (o.reason !== undefined) q.set('reason', o.reason);
    const r = await this.call<AgentActionReply & { error?: string; code?: string; hint?: string }>('POST', `/v1/queues/agents/${encodeURIComponent(extension)}/${action}${q.size ? `?${q}` : ''}`);
    if (r.status !== 200) throw new PbxError(r.body?.code ?? 'DAEMON_API_ERROR', r.body?.error ?? `the feature daemon answered ${r.status}`, r.body?.hint ? { hint: r.body.hint } : {});
    return r.body;
  }

  /** GET /v1/queues: every queue's statistics and every agent. @throws PbxError DAEMON_API_ERROR */
  async queues(): Promise<QueuesReply> {
    const r = await this.call<QueuesReply>('GET', '/v1/queues');
    if (r.status !== 200) throw new PbxError('DAEMON_API_ERROR', `the feature daemon answered GET /v1/queues with ${r.status}`);
    return r.body;
  }

  /** GET /v1/voicemail: boxes with messages and their counts. @throws PbxError DAEMON_API_ERROR */
  async voicemailBoxes(): Promise<VoicemailBoxesReply> {
    const r = await this.call<VoicemailBoxesReply>('GET', '/v1/voicemail');
    if (r.status !== 200) throw new PbxError('DAEMON_API_ERROR', `the feature daemon answered GET /v1/voicemail with ${r.status}`);
    return r.body;
  }

  /**
   * GET /v1/voicemail/:mailbox/messages (voicemail/module.ts): counts and messages, oldest first.
   * @throws PbxError with the daemon's code (VOICEMAIL_BAD_ID, VOICEMAIL_BAD_FOLDER) or DAEMON_API_ERROR
   */
  async voicemailMessages(mailbox: string, folder?: string): Promise<VoicemailMessagesReply> {
    const r = await this.call<VoicemailMessagesReply & { error?: string; code?: string; hint?: string }>('GET', `/v1/voicemail/${encodeURIComponent(mailbox)}/messages${folder ? `?folder=${encodeURIComponent(folder)}` : ''}`);
    if (r.status !== 200) throw new PbxError(r.body?.code ?? 'DAEMON_API_ERROR', r.body?.error ?? `the feature daemon answered ${r.status}`, r.body?.hint ? { hint: r.body.hint } : {});
    return r.body;
  }

  /**
   * GET /v1/voicemail/:mailbox/messages/:id/audio: the message's WAV file (8 kHz mono 16-bit).
   * @throws PbxError VOICEMAIL_NOT_FOUND (404), the daemon's code, or DAEMON_API_ERROR
   */
  async voicemailAudio(mailbox: string, id: string): Promise<Buffer> {
    const r = await this.call<{ error?: string; code?: string; hint?: string }>('GET', `/v1/voicemail/${encodeURIComponent(mailbox)}/messages/${encodeURIComponent(id)}/audio`);
    if (r.status === 404) throw new PbxError('VOICEMAIL_NOT_FOUND', `no message ${id} in mailbox ${mailbox}`, { hint: 'List the box with `pbxctl voicemail list MAILBOX`.' });
    if (r.status !== 200) throw new PbxError(r.body?.code ?? 'DAEMON_API_ERROR', r.body?.error ?? `the feature daemon answered ${r.status}`, r.body?.hint ? { hint: r.body.hint } : {});
    return r.bytes;
  }

  /** DELETE /v1/voicemail/:mailbox/messages/:id; false when there is no such message. @throws PbxError the daemon's code or DAEMON_API_ERROR */
  async voicemailDelete(mailbox: string, id: string): Promise<boolean> {
    const r = await this.call<{ error?: string; code?: string; hint?: string }>('DELETE', `/v1/voicemail/${encodeURIComponent(mailbox)}/messages/${encodeURIComponent(id)}`);
    if (r.status === 204) return true;
    if (r.status === 404) return false;
    throw new PbxError(r.body?.code ?? 'DAEMON_API_ERROR', r.body?.error ?? `the feature daemon answered ${r.status}`, r.body?.hint ? { hint: r.body.hint } : {});
  }
}
