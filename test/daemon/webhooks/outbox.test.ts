import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDaemonDb } from '../../../src/daemon/store/database.js';
import { Outbox } from '../../../src/daemon/webhooks/outbox.js';
import type { WebhookMessage } from '../../../src/daemon/webhooks/mapping.js';

const msg = (id: string, at: number, type: WebhookMessage['type'] = 'call.started'): WebhookMessage => ({ id, type, at, body: JSON.stringify({ type, id }) });
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('webhook outbox', () => {
  it('keeps one row per (webhook, message id) and hands due rows out oldest event first', () => {
    const box = new Outbox(openDaemonDb(':memory:'));
    expect(box.enqueue([{ webhook: 'crm', message: msg('m2', 200) }, { webhook: 'crm', message: msg('m1', 100) }, { webhook: 'wall', message: msg('m1', 100) }], 1000)).toBe(3);
    expect(box.enqueue([{ webhook: 'crm', message: msg('m1', 100) }], 1001)).toBe(0);
    expect(box.due('crm', 1000, 10).map((d) => d.messageId)).toEqual(['m1', 'm2']);
    expect(box.due('crm', 999, 10)).toEqual([]);
    expect(box.pendingWebhooks().sort((a, b) => a.webhook.localeCompare(b.webhook))).toEqual([{ webhook: 'crm', nextAttemptAt: 1000 }, { webhook: 'wall', nextAttemptAt: 1000 }]);
    expect(box.counts()).toEqual({ pending: 3, delivered: 0, dead: 0 });
  });

  it('records attempts: retry later, delivered, dead; retry from the dead-letter list resets the budget', () => {
    const box = new Outbox(openDaemonDb(':memory:'));
    box.enqueue([{ webhook: 'crm', message: msg('a', 1) }, { webhook: 'crm', message: msg('b', 2) }], 10);
    const [a, b] = box.due('crm', 10, 10);
    box.recordAttempt(a!.id, { result: 'retry', status: 500, error: 'HTTP 500', nextAttemptAt: 5000 }, 20);
    expect(box.get(a!.id)).toMatchObject({ status: 'pending', attempts: 1, nextAttemptAt: 5000, lastStatus: 500, lastError: 'HTTP 500', lastAttemptAt: 20 });
    expect(box.due('crm', 4999, 10).map((d) => d.messageId)).toEqual(['b']);
    box.recordAttempt(b!.id, { result: 'delivered', status: 204 }, 30);
    expect(box.get(b!.id)).toMatchObject({ status: 'delivered', attempts: 1, doneAt: 30, lastStatus: 204 });
    expect(box.get(b!.id)!.lastError).toBeUndefined();
    box.recordAttempt(a!.id, { result: 'dead', error: 'connect ECONNREFUSED' }, 40);
    expect(box.list({ status: 'dead' }).map((d) => d.messageId)).toEqual(['a']);
    expect(box.retry(b!.id, 50)!.status).toBe('delivered');
    expect(box.retry(999, 50)).toBeUndefined();
    expect(box.retry(a!.id, 60)).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: 60, messageId: 'a' });
    expect(box.get(a!.id)!.doneAt).toBeUndefined();
  });

  it('abandons a removed webhook as dead letters and prunes old finished rows', () => {
    const box = new Outbox(openDaemonDb(':memory:'));
    box.enqueue([{ webhook: 'gone', message: msg('a', 1) }, { webhook: 'crm', message: msg('b', 1) }], 10);
    expect(box.abandon('gone', 'webhook removed', 20)).toBe(1);
    expect(box.list({ status: 'dead' })[0]).toMatchObject({ webhook: 'gone', lastError: 'webhook removed', doneAt: 20 });
    const [b] = box.due('crm', 10, 1);
    box.recordAttempt(b!.id, { result: 'delivered', status: 200 }, 100);
    expect(box.prune(101, 0)).toBe(1);
    expect(box.prune(101, 21)).toBe(1);
    expect(box.counts()).toEqual({ pending: 0, delivered: 0, dead: 0 });
  });

  it('survives closing and reopening the database file (a restart resumes pending rows)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pbxctl-outbox-'));
    dirs.push(dir);
    const file = join(dir, 'daemon.db');
    const db = openDaemonDb(file);
    new Outbox(db).enqueue([{ webhook: 'crm', message: msg('m1', 5) }], 10);
    db.close();
    const again = new Outbox(openDaemonDb(file));
    expect(again.due('crm', 10, 10).map((d) => [d.messageId, d.body])).toEqual([['m1', JSON.stringify({ type: 'call.started', id: 'm1' })]]);
  });
});
