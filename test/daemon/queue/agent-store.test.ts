/**
 * Agent logins survive a daemon restart (SQLite on a temporary file, reopened), and the queue
 * module's API routes drive the manager.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDaemonDb } from '../../../src/daemon/store/database.js';
import { SqliteAgentStore } from '../../../src/daemon/queue/agent-store.js';
import { QueueManager } from '../../../src/daemon/queue/manager.js';
import { queueRoutes } from '../../../src/daemon/queue/api.js';
import { queueDef } from './support.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('SqliteAgentStore', () => {
  it('keeps logins and pauses across a restart', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pbx-queue-'));
    const file = join(dir, 'daemon.db');
    const q = queueDef();
    const db1 = openDaemonDb(file);
    const m1 = new QueueManager({ store: new SqliteAgentStore(db1) });
    m1.configure({ support: q });
    m1.login('1001');
    m1.login('1002');
    m1.setPaused('1002', true, undefined, 'training');
    m1.logout('1001');
    m1.login('1001');
    m1.close();
    db1.close();

    const db2 = openDaemonDb(file);
    const m2 = new QueueManager({ store: new SqliteAgentStore(db2) });
    m2.configure({ support: q });
    expect(m2.agentViews().map((a) => [a.extension, a.queues.map((x) => [x.queue, x.paused, x.pauseReason ?? null])])).toEqual([
      ['1001', [['support', false, null]]],
      ['1002', [['support', true, 'training']]],
    ]);
    expect(m2.queueStats('support')).toMatchObject({ agentsLoggedIn: 2, agentsAvailable: 1 });
    m2.close();
    db2.close();
  });
});

describe('queue API routes', () => {
  it('log in / pause / list / refuse unknown agents', async () => {
    const m = new QueueManager({ store: new (await import('../../../src/daemon/queue/agent-store.js')).MemoryAgentStore() });
    m.configure({ support: queueDef() });
    const routes = queueRoutes(m);
    const call = async (method: string, path: string, query = '') => {
      for (const r of routes) {
        const match = r.method === method ? r.path.exec(path) : null;
        if (match) return r.handle({ params: match.slice(1), query: new URLSearchParams(query), body: undefined });
      }
      return { status: 404 };
    };
    expect(await call('POST', '/v1/queues/agents/1001/login')).toMatchObject({ status: 200, body: { extension: '1001', action: 'login', queues: ['support'], agent: { activity: 'available' } } });
    expect(await call('POST', '/v1/queues/agents/1001/pause', 'reason=lunch')).toMatchObject({ status: 200, body: { queues: ['support'], agent: { queues: [{ queue: 'support', paused: true, pauseReason: 'lunch' }] } } });
    expect(await call('GET', '/v1/queues')).toMatchObject({ status: 200, body: { queues: [{ queue: 'support', agentsLoggedIn: 1, agentsAvailable: 0, waiting: 0 }] } });
    expect(await call('GET', '/v1/queues/support')).toMatchObject({ status: 200, body: { queue: 'support', agents: [{ extension: '1001' }, { extension: '1002' }] } });
    expect(await call('GET', '/v1/queues/nope')).toMatchObject({ status: 404 });
    await expect(Promise.resolve().then(() => call('POST', '/v1/queues/agents/1009/login'))).rejects.toMatchObject({ code: 'QUEUE_NOT_AGENT' });
    expect(await call('POST', '/v1/queues/agents/x/login')).toMatchObject({ status: 400 });
  });
});
