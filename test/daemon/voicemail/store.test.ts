import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus, type DaemonEvent } from '../../../src/daemon/events.js';
import { openDaemonDb, type Db } from '../../../src/daemon/store/database.js';
import { voicemailRoutes } from '../../../src/daemon/voicemail/module.js';
import { VoicemailStore } from '../../../src/daemon/voicemail/store.js';
import { decodeWav, encodeWav } from '../../../src/media/wav.js';

const tone = (ms: number) => Int16Array.from({ length: ms * 8 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / 8000)));

describe('VoicemailStore', () => {
  let dir: string;
  let db: Db;
  let events: EventBus;
  let seen: DaemonEvent[];
  let logs: string[];
  let now: number;
  const open = () => new VoicemailStore(db, dir, events, { info: (m) => logs.push(`info ${m}`), warn: (m) => logs.push(`warn ${m}`) }, () => now);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vm-store-'));
    db = openDaemonDb(join(dir, 'daemon.db'));
    events = new EventBus();
    seen = [];
    logs = [];
    now = 1_763_760_000_000;
    events.subscribe((e) => seen.push(e));
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('deposits a message: WAV file in the box directory, a row, then voicemail.new and voicemail.changed', () => {
    const store = open();
    const m = store.deposit({ mailbox: '1001', caller: { number: '+15551230000', name: 'Ann' }, samples: tone(2500) });
    expect(m).toMatchObject({ mailbox: '1001', folder: 'new', durationMs: 2500, receivedAt: now, caller: { number: '+15551230000', name: 'Ann' } });
    expect(m.file).toBe(join(dir, 'voicemail', '1001', `${m.id}.wav`));
    const wav = decodeWav(readFileSync(m.file));
    expect(wav.durationMs).toBe(2500);
    expect(wav.comment).toMatchObject({ callerNumber: '+15551230000', callerName: 'Ann', receivedAt: now });
    expect(readdirSync(join(dir, 'voicemail', '1001'))).toEqual([`${m.id}.wav`]); // no temp file left
    expect(seen.map((e) => e.type)).toEqual(['voicemail.new', 'voicemail.changed']);
    expect(seen[0]).toMatchObject({ mailbox: '1001', messageId: m.id, durationS: 2.5, receivedAt: now, file: m.file, caller: { number: '+15551230000' } });
    expect(seen[1]).toMatchObject({ mailbox: '1001', newCount: 1, oldCount: 0 });
    expect(store.counts('1001')).toEqual({ newCount: 1, oldCount: 0 });
    expect(store.allMailboxes()).toEqual(['1001']);
  });

  it('moves messages between folders, deletes them, and publishes counts only when they change', () => {
    const store = open();
    const a = store.deposit({ mailbox: '1001', caller: { number: '1002' }, samples: tone(100) });
    now += 1000;
    const b = store.deposit({ mailbox: '1001', caller: { number: '1003' }, samples: tone(100) });
    seen.length = 0;
    expect(store.setFolder('1001', a.id, 'old')).toBe(true);
    expect(store.setFolder('1001', a.id, 'saved')).toBe(true); // old -> saved: counts unchanged
    expect(seen).toEqual([expect.objectContaining({ type: 'voicemail.changed', newCount: 1, oldCount: 1 })]);
    expect(store.list('1001', { order: 'play' }).map((m) => m.id)).toEqual([b.id, a.id]);
    expect(store.list('1001').map((m) => m.id)).toEqual([a.id, b.id]);
    expect(store.delete('1001', b.id)).toBe(true);
    expect(store.delete('1001', b.id)).toBe(false);
    expect(() => readFileSync(b.file)).toThrow();
    expect(store.counts('1001')).toEqual({ newCount: 0, oldCount: 1 });
    expect(store.setFolder('1001', '1763760000000-00000000', 'old')).toBe(false);
    expect(() => store.mailboxDir('../etc')).toThrow(/not a valid mailbox/);
  });

  it('prunes messages older than the retention', () => {
    const store = open();
    store.deposit({ mailbox: '1001', caller: { number: '1002' }, samples: tone(100), receivedAt: now - 40 * 86_400_000 });
    const keep = store.deposit({ mailbox: '1001', caller: { number: '1002' }, samples: tone(100), receivedAt: now - 5 * 86_400_000 });
    expect(store.prune(0)).toBe(0);
    expect(store.prune(30)).toBe(1);
    expect(store.list('1001').map((m) => m.id)).toEqual([keep.id]);
  });

  it('reconciles at startup: a file without a row is indexed with its caller, a row without a file removed, temp files deleted', () => {
    const store = open();
    const gone = store.deposit({ mailbox: '1001', caller: { number: '1002' }, samples: tone(100) });
    rmSync(gone.file);
    // A crash after the rename, before the insert: the file is there, the row is not.
    const orphanId = `${now + 5}-abcdef01`;
    writeFileSync(join(dir, 'voicemail', '1001', `${orphanId}.wav`), encodeWav(tone(1500), { callerNumber: '+15559990000', callerName: 'Bob', receivedAt: now + 5 }));
    writeFileSync(join(dir, 'voicemail', '1001', `.${orphanId}.wav.1234abcd.tmp`), Buffer.alloc(10));
    seen.length = 0;
    const r = open().reconcile();
    expect(r).toEqual({ indexed: 1, removed: 1, tempFiles: 1 });
    const list = store.list('1001');
    expect(list).toEqual([expect.objectContaining({ id: orphanId, caller: { number: '+15559990000', name: 'Bob' }, receivedAt: now + 5, durationMs: 1500, folder: 'new' })]);
    expect(seen).toEqual([expect.objectContaining({ type: 'voicemail.changed', mailbox: '1001', newCount: 1, oldCount: 0 })]);
    expect(logs.filter((l) => l.startsWith('warn'))).toHaveLength(3);
    expect(open().reconcile()).toEqual({ indexed: 0, removed: 0, tempFiles: 0 });
  });

  it('keeps recorded greetings per kind', () => {
    const store = open();
    expect(store.greetingFile('1001', 'busy')).toBeUndefined();
    const f = store.saveGreeting('1001', 'busy', tone(1000));
    expect(store.greetingFile('1001', 'busy')).toBe(f);
    expect(store.greetingFile('1001', 'unavailable')).toBeUndefined();
    expect(open().reconcile()).toEqual({ indexed: 0, removed: 0, tempFiles: 0 }); // greetings are not messages
  });

  it('serves the API routes: list, audio, delete', async () => {
    const store = open();
    const m = store.deposit({ mailbox: '1001', caller: { number: '1002' }, samples: tone(300) });
    const routes = voicemailRoutes(store);
    const call = async (method: string, path: string, query = '') => {
      for (const r of routes) {
        const match = r.method === method ? r.path.exec(path) : null;
        if (match) return r.handle({ params: match.slice(1), query: new URLSearchParams(query), body: undefined });
      }
      throw new Error(`no route ${method} ${path}`);
    };
    expect(await call('GET', '/v1/voicemail')).toEqual({ status: 200, body: { mailboxes: [{ mailbox: '1001', newCount: 1, oldCount: 0 }] } });
    const list = await call('GET', '/v1/voicemail/1001/messages');
    expect(list.body).toMatchObject({ mailbox: '1001', newCount: 1, messages: [{ id: m.id, durationMs: 300, folder: 'new' }] });
    expect(JSON.stringify(list.body)).not.toContain(dir); // no server paths
    expect((await call('GET', '/v1/voicemail/1001/messages', 'folder=old')).body).toMatchObject({ messages: [] });
    await expect(call('GET', '/v1/voicemail/1001/messages', 'folder=trash')).rejects.toThrow(/folder/);
    const audio = await call('GET', `/v1/voicemail/1001/messages/${m.id}/audio`);
    expect(audio.status).toBe(200);
    expect(audio.contentType).toBe('audio/wav');
    expect(decodeWav(Buffer.from(audio.bytes!)).durationMs).toBe(300);
    expect((await call('DELETE', `/v1/voicemail/1001/messages/${m.id}`)).status).toBe(204);
    expect((await call('DELETE', `/v1/voicemail/1001/messages/${m.id}`)).status).toBe(404);
    expect((await call('GET', `/v1/voicemail/1001/messages/${m.id}/audio`)).status).toBe(404);
  });
});
