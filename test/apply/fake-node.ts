/**
 * An in-memory node for unit tests of plan/apply: a filesystem with symlinks behind the Target
 * interface, a fake Kamailio whose RPC reloads read the data files under `current/` the way
 * the real modules do (db_text htables, dispatcher.list, permissions address table, uac uacreg),
 * and optionally a fake feature daemon that loads `current/daemon/features.json` on reload and
 * reports its entries as the real one does (GET /v1/config). The e2e suite runs the same code
 * against real Kamailio and the real daemon.
 */
import { featureEntryHashes } from '../../src/compile/feature-entries.js';
import { HTABLES } from '../../src/compile/node-data.js';
import { parseFeatureConfig } from '../../src/daemon/config-types.js';
import { daemonUnreachable } from '../../src/daemon/daemon-client.js';
import { KamailioRpcError, type KamailioRpc } from '../../src/kamailio/rpc-client.js';
import { PbxError } from '../../src/lib/errors.js';
import type { NodeDaemon, Target, TargetStat } from '../../src/targets/target.js';

/** Stands in for rendered prompts (apply/prompts.ts PromptReader): recognizable bytes per id. */
export const fakePrompt = async (id: string): Promise<Buffer> => Buffer.from(`RIFF fake audio of ${id}`);

/** A fake feature daemon on a FakeNode (see FakeNode.addDaemon). */
export interface FakeDaemon {
  /** The running config's entries (feature-entries.ts hashes); empty until a reload loaded one. */
  entries: Record<string, string>;
  version?: string;
  /** Successful reloads. */
  reloads: number;
  /** Set to make the daemon not answer: every call fails with DAEMON_UNREACHABLE. */
  down: boolean;
  /** Makes the next reload fail as the daemon refusing the config (DAEMON_RELOAD_FAILED). */
  failNextReload: boolean;
  /** Makes reloads succeed but report a wrong hash for this entry id (a daemon that runs something else). */
  misreport?: string;
}

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
}
function fields(line: string): string[] {
  return line.split(/(?<!\\):/).map(unescape);
}

export class FakeNode {
  /** Files by real path; binary ones (writeBytes) carry `bytes` and an empty `content`. */
  files = new Map<string, { content: string; bytes?: Buffer; mtimeMs: number; mode?: number }>();
  links = new Map<string, string>();
  /** Live data as Kamailio holds it: htable name -> key -> {value, type}. */
  htables = new Map<string, Map<string, { value: string | number; type: 'str' | 'int' }>>(Object.keys(HTABLES).map((k) => [k, new Map()]));
  dispatcher: { set: number; uri: string; prio: number; attrs: string }[] = [];
  addresses: { grp: number; ip: string; mask: number; port: number; tag: string }[] = [];
  /** uac registrations as `uac.reg_dump` shows them (NULL columns as null). */
  uacreg: Record<string, string | number | null>[] = [];
  /** Set to make Kamailio "down": every RPC fails. */
  down = false;
  /** RPC method names that fail once with a 500. */
  failOnce = new Set<string>();
  calls: string[] = [];
  /** The node's feature daemon, when {@link addDaemon} gave it one. */
  daemon?: FakeDaemon;

  /** Gives the node a feature daemon that has loaded no config yet. */
  addDaemon(): FakeDaemon {
    this.daemon = { entries: {}, reloads: 0, down: false, failNextReload: false };
    return this.daemon;
  }

  private readonly daemonApi: NodeDaemon = {
    config: async () => {
      const d = this.daemon!;
      this.calls.push('daemon.config');
      if (d.down) throw daemonUnreachable({ host: '127.0.0.1', port: 1, token: '' }, new Error('connect ECONNREFUSED'));
      return { ...(d.version ? { version: d.version } : {}), entries: { ...d.entries } };
    },
    reload: async () => {
      const d = this.daemon!;
      this.calls.push('daemon.reload');
      if (d.down) throw daemonUnreachable({ host: '127.0.0.1', port: 1, token: '' }, new Error('connect ECONNREFUSED'));
      const text = this.read('current/daemon/features.json');
      if (d.failNextReload || text === undefined) {
        d.failNextReload = false;
        throw new PbxError('DAEMON_RELOAD_FAILED', `the feature daemon refused the new config: ${text === undefined ? 'no feature config' : 'injected failure'}`);
      }
      const config = parseFeatureConfig(JSON.parse(text));
      const changed = config.version !== d.version;
      d.entries = Object.fromEntries(featureEntryHashes(config));
      if (d.misreport) d.entries[d.misreport] = 'sha:ffffffffffffffff';
      d.version = config.version;
      d.reloads++;
      return { version: config.version, changed };
    },
    health: async () => ({ status: 'ok', uptimeS: 1, configVersion: this.daemon?.version ?? null, calls: 0 }),
  };

  private path(p: string): string {
    for (const [link, target] of this.links) {
      if (p === link) return target;
      if (p.startsWith(`${link}/`)) return `${target}${p.slice(link.length)}`;
    }
    return p;
  }

  readonly rpc: KamailioRpc = {
    requests: 0,
    close: () => undefined,
    call: async <T>(method: string, params: (string | number)[] = []): Promise<T> => {
      (this.rpc as { requests: number }).requests++;
      this.calls.push(params.length ? `${method} ${params.join(' ')}` : method);
      if (this.down) throw new KamailioRpcError(method, 0, 'connection refused');
      if (this.failOnce.delete(method)) throw new KamailioRpcError(method, 500, 'Reload failed');
      return this.handle(method, params) as T;
    },
  };

  private read(p: string): string | undefined {
    const f = this.files.get(this.path(p));
    return f?.bytes ? f.bytes.toString('utf8') : f?.content;
  }

  private handle(method: string, params: (string | number)[]): unknown {
    switch (method) {
      case 'htable.dump': {
        const t = this.htables.get(String(params[0]));
        if (!t) throw new KamailioRpcError(method, 500, 'No such htable');
        return [{ entry: 0, size: t.size, slot: [...t].map(([name, v]) => ({ name, value: v.value, type: v.type })) }];
      }
      case 'htable.reload': {
        const name = String(params[0]);
        const text = this.read(`current/db/${HTABLES[name as keyof typeof HTABLES]}`);
        if (text === undefined) throw new KamailioRpcError(method, 500, 'Reload failed');
        const t = new Map<string, { value: string | number; type: 'str' | 'int' }>();
        for (const line of text.split('\n').slice(1).filter(Boolean)) {
          const [key, , vtype, value] = fields(line);
          t.set(key!, vtype === '1' ? { value: Number(value), type: 'int' } : { value: value!, type: 'str' });
        }
        this.htables.set(name, t);
        return 'Ok. Htable reloaded.';
      }
      case 'dispatcher.list':
        if (!this.dispatcher.length) throw new KamailioRpcError(method, 500, 'No Destination Sets');
        return { NRSETS: new Set(this.dispatcher.map((d) => d.set)).size, RECORDS: [...new Set(this.dispatcher.map((d) => d.set))].map((id) => ({ SET: { ID: id, TARGETS: this.dispatcher.filter((d) => d.set === id).map((d) => ({ DEST: { URI: d.uri, FLAGS: 'AX', PRIORITY: d.prio, ATTRS: { BODY: d.attrs } } })) } })) };
      case 'dispatcher.reload': {
        const text = this.read('current/dispatcher.list') ?? '';
        this.dispatcher = text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
          const [set, uri, , prio, attrs] = l.split(' ');
          return { set: Number(set), uri: uri!, prio: Number(prio), attrs: attrs ?? '' };
        });
        return 'Ok. Dispatcher successfully reloaded.';
      }
      case 'permissions.addressReload': {
        const text = this.read('current/db/address') ?? '';
        this.addresses = text.split('\n').slice(1).filter(Boolean).map((l) => {
          const [, grp, ip, mask, port, tag] = fields(l);
          return { grp: Number(grp), ip: ip!, mask: Number(mask), port: Number(port), tag: tag ?? '' };
        });
        return 'Reload OK';
      }
      case 'uac.reg_reload': {
        const text = this.read('current/db/uacreg');
        if (text === undefined) throw new KamailioRpcError(method, 500, 'Failed to shift records - check log messages');
        const [header, ...rows] = text.split('\n').filter(Boolean);
        const cols = header!.split(' ').map((c) => ({ name: c.replace(/\(.*$/, ''), int: /\(int/.test(c) }));
        this.uacreg = rows.map((l) => {
          const f = fields(l);
          const rec: Record<string, string | number | null> = {};
          cols.forEach((c, i) => {
            if (c.name === 'id') return;
            const v = f[i] ?? '';
            rec[c.name] = c.int ? Number(v) : v === '' ? null : v;
          });
          return { ...rec, auth_ha1: rec.auth_ha1 ?? 'none', diff_expires: 0, timer_expires: 0, reg_init: 0 };
        });
        return {};
      }
      case 'uac.reg_dump':
        return this.uacreg;
      case 'permissions.addressDump':
        return this.addresses.filter((a) => a.mask === 32).map((a) => ({ table: 1, group: a.grp, item: { ip: a.ip, port: a.port, tag: a.tag } }));
      case 'permissions.subnetDump':
        return this.addresses.filter((a) => a.mask !== 32).map((a, i) => ({ id: i, group: a.grp, item: { ip: a.ip, mask: a.mask, port: a.port, tag: a.tag } }));
      default:
        throw new KamailioRpcError(method, 500, 'command not found');
    }
  }

  target(name = 'fake'): Target {
    return {
      name,
      description: 'in-memory node',
      rpc: this.rpc,
      ...(this.daemon ? { daemon: this.daemonApi } : {}),
      readText: async (p) => {
        return this.read(p);
      },
      writeText: async (p, content, opts = {}) => {
        this.files.set(this.path(p), { content, mtimeMs: opts.mtimeMs ?? Date.now(), ...(opts.mode !== undefined ? { mode: opts.mode } : {}) });
      },
      writeBytes: async (p, data, opts = {}) => {
        this.files.set(this.path(p), { content: '', bytes: Buffer.from(data), mtimeMs: opts.mtimeMs ?? Date.now(), ...(opts.mode !== undefined ? { mode: opts.mode } : {}) });
      },
      createExclusive: async (p, content) => {
        if (this.files.has(this.path(p))) return false;
        this.files.set(this.path(p), { content, mtimeMs: Date.now() });
        return true;
      },
      appendText: async (p, content) => {
        const f = this.files.get(this.path(p));
        this.files.set(this.path(p), { content: (f?.content ?? '') + content, mtimeMs: Date.now() });
      },
      stat: async (p): Promise<TargetStat | undefined> => {
        const real = this.path(p);
        const f = this.files.get(real);
        if (f) return { isFile: true, isDirectory: false, mtimeMs: f.mtimeMs };
        return [...this.files.keys()].some((k) => k.startsWith(`${real}/`)) ? { isFile: false, isDirectory: true, mtimeMs: 0 } : undefined;
      },
      list: async (dir) => {
        const real = this.path(dir);
        return [...new Set([...this.files.keys()].filter((k) => k.startsWith(`${real}/`)).map((k) => k.slice(real.length + 1).split('/')[0]!))];
      },
      remove: async (p) => {
        const real = this.path(p);
        this.links.delete(p);
        for (const k of [...this.files.keys()]) if (k === real || k.startsWith(`${real}/`)) this.files.delete(k);
      },
      setMtime: async (p, mtimeMs) => {
        const f = this.files.get(this.path(p));
        if (f) f.mtimeMs = mtimeMs;
      },
      readLink: async (p) => {
        return this.links.get(p);
      },
      switchLink: async (p, target) => {
        this.links.set(p, target);
      },
      close: async () => {},
    };
  }
}
