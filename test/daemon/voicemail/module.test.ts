/**
 * The voicemail module as the daemon starts it: reconcile and retention at start, its routes on
 * the real HTTP API, read through DaemonClient (binary audio, 404, a malformed mailbox).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startApi, type ApiRoute, type ApiServer, type DaemonControl } from '../../../src/daemon/api.js';
import { DaemonClient } from '../../../src/daemon/daemon-client.js';
import { EventBus } from '../../../src/daemon/events.js';
import { openDaemonDb, type Db } from '../../../src/daemon/store/database.js';
import { startVoicemail, type VoicemailModule } from '../../../src/daemon/voicemail/module.js';
import { encodeWav } from '../../../src/media/wav.js';

const TOKEN = 'vm-test-token-0123456789';
const DAY = 86_400_000;

describe('voicemail module', () => {
  let dir: string;
  let db: Db;
  let api: ApiServer | undefined;
  let vm: VoicemailModule | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vm-module-'));
    db = openDaemonDb(join(dir, 'daemon.db'));
  });
  afterEach(async () => {
    vm?.stop();
    await api?.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('indexes a leftover message file at start, prunes by retention, and serves the box through the API', async () => {
    const now = Date.now();
    const box = join(dir, 'voicemail', '1001');
    mkdirSync(box, { recursive: true });
    const oldId = `${now - 40 * DAY}-0000000a`;
    const keptId = `${now - DAY}-0000000b`;
    writeFileSync(join(box, `${oldId}.wav`), encodeWav(new Int16Array(800), { callerNumber: '1002', receivedAt: now - 40 * DAY }));
    const kept = encodeWav(Int16Array.from({ length: 1600 }, (_, i) => (i % 8) * 1000), { callerNumber: '+15551230000', callerName: 'Ann', receivedAt: now - DAY });
    writeFileSync(join(box, `${keptId}.wav`), kept);
    const routes: ApiRoute[] = [];
    const logs: string[] = [];
    vm = startVoicemail({ db, stateDir: dir, events: new EventBus(), routes, retentionDays: () => 30, log: { info: (m) => logs.push(m), warn: (m) => logs.push(m) } });
    expect(vm.store.list('1001').map((m) => m.id)).toEqual([keptId]);
    expect(logs).toEqual(expect.arrayContaining(['voicemail store reconciled', 'voicemail retention: old messages deleted']));

    api = await startApi({ port: 0, token: TOKEN, events: new EventBus(), routes, control: {} as DaemonControl });
    const client = new DaemonClient({ host: '127.0.0.1', port: api.port, token: TOKEN });
    expect(await client.voicemailBoxes()).toEqual({ mailboxes: [{ mailbox: '1001', newCount: 1, oldCount: 0 }] });
    expect(await client.voicemailMessages('1001')).toEqual({
      mailbox: '1001', newCount: 1, oldCount: 0,
      messages: [{ mailbox: '1001', id: keptId, caller: { number: '+15551230000', name: 'Ann' }, receivedAt: now - DAY, durationMs: 200, folder: 'new' }],
    });
    expect((await client.voicemailMessages('1001', 'saved')).messages).toEqual([]);
    const audio = await client.voicemailAudio('1001', keptId);
    expect(audio.equals(readFileSync(join(box, `${keptId}.wav`)))).toBe(true);
    await expect(client.voicemailAudio('1001', oldId)).rejects.toMatchObject({ code: 'VOICEMAIL_NOT_FOUND' });
    await expect(client.voicemailMessages('../x')).rejects.toMatchObject({ code: 'VOICEMAIL_BAD_ID' });
    await expect(client.voicemailMessages('1001', 'trash')).rejects.toMatchObject({ code: 'VOICEMAIL_BAD_FOLDER' });
    expect(await client.voicemailDelete('1001', keptId)).toBe(true);
    expect(await client.voicemailDelete('1001', keptId)).toBe(false);
    expect(await client.voicemailBoxes()).toEqual({ mailboxes: [] });
  });

  it('does not prune before a config says how long to keep messages', () => {
    const routes: ApiRoute[] = [];
    vm = startVoicemail({ db, stateDir: dir, events: new EventBus(), routes, retentionDays: () => undefined });
    vm.store.deposit({ mailbox: '1001', caller: { number: '1002' }, samples: new Int16Array(800), receivedAt: Date.now() - 400 * DAY });
    expect(vm.prune()).toBe(0);
    expect(routes.map((r) => `${r.method} ${r.path.source}`)).toHaveLength(4);
  });
});
