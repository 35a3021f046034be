/**
 * The --json output schemas themselves (schemas/output/): every one compiles under ajv's strict
 * mode with its `$id` matching its file, and each rejects hand-made bad values (a missing required
 * field, a wrong type, an unknown field), so a test that checks a real output against them cannot
 * pass by accident. The real outputs are checked in the CLI and e2e suites that produce them.
 */
import { describe, expect, it } from 'vitest';
import { buildHistory } from '../../src/gitops/history.js';
import { entryDrift } from '../../src/gitops/drift.js';
import { outputSchemaErrors, outputSchemaNames, outputValidator } from '../support/output-schema.js';

const NOW = 1_763_740_000_000;
const summary = { create: 1, update: 0, delete: 0, replace: 0 };
const record = { release: '20261121T164600Z-3fa2', time: '2026-11-21T16:46:00.123Z', user: 'ops', commit: 'a'.repeat(40), planHash: 'b'.repeat(64), summary };
const call = {
  callId: 'c1@10.0.0.1',
  sources: { daemon: true, kamailio: true },
  caller: { number: '+12125550111' },
  callee: { number: '7000', name: 'Main menu' },
  phase: 'ivr',
  startedAt: NOW,
  timeline: [{ at: NOW, text: 'INVITE from +12125550111 to +15550199' }],
  media: { packets: 120, lossPct: 0, jitterMs: 1.5, mos: 4.3 },
  dialogKey: { hEntry: 12, hId: 3041 },
};
const cdr = {
  callId: 'c1@10.0.0.1', direction: 'inbound', from: '+12125550111', to: '+15550199', did: '+15550199', startedAt: NOW, answeredAt: NOW + 900, endedAt: NOW + 60_000,
  durationS: 60, billableS: 60, disposition: 'answered', path: [{ at: NOW + 1000, step: 'ivr:main', detail: { digits: '1', retry: false } }],
};

const labInfo = {
  root: '/tmp/lab/node', sipAddress: '127.0.0.1', ports: { sip: 25060, rpc: 25061, ng: 25062, rtpMin: 25070, rtpMax: 25169, daemonSip: 25063, daemonApi: 25064 },
  pids: { kamailio: 100, rtpengine: 101, daemon: 102 }, daemonTokenFile: '/tmp/lab/node/etc/daemon.token', domain: 'pbx.lab.test', startedAt: '2026-11-21T16:46:00.000Z',
};

/** [schema, a value it must accept, values it must reject with the reason]. */
const CASES: [string, unknown, [string, unknown][]][] = [
  [
    'status',
    {
      target: 'lab', kamailio: { version: 'kamailio 5.6.4 (x86_64/linux)', uptimeSec: 42 }, release: record.release, appliedAt: record.time, appliedBy: 'ops',
      extensions: [{ number: '1001', label: '1001 (Alice)', contacts: [{ address: 'sip:1001@127.0.0.2:5070', expires: 3590, userAgent: 'sipp' }] }],
      unknownRegistrations: [], registered: 1, configured: 1, trunks: [{ set: 1, uri: 'sip:127.0.0.3:5080', trunk: 'carrier', state: 'active', flags: 'AP' }], eventSpool: 0,
      daemon: { status: 'ok', uptimeS: 5, configVersion: null, calls: 0 },
    },
    [
      ['no kamailio', { target: 'lab', extensions: [], unknownRegistrations: [], registered: 0, configured: 0, trunks: [] }],
      ['expires as text', { target: 'lab', kamailio: { version: 'k' }, extensions: [{ number: '1001', label: 'x', contacts: [{ address: 'sip:a', expires: '3600' }] }], unknownRegistrations: [], registered: 0, configured: 0, trunks: [] }],
      ['daemon with both shapes', { target: 'lab', kamailio: { version: 'k' }, extensions: [], unknownRegistrations: [], registered: 0, configured: 0, trunks: [], daemon: { error: 'x', status: 'ok' } }],
      ['appliedAt not a date', { target: 'lab', kamailio: { version: 'k' }, appliedAt: 'yesterday', extensions: [], unknownRegistrations: [], registered: 0, configured: 0, trunks: [] }],
    ],
  ],
  [
    'history',
    JSON.parse(JSON.stringify(buildHistory('lab', [record, { ...record, release: '20261121T170000Z-0001', previous: record.release, author: 'A <a@x>', subject: 's', command: 'pbxctl sync' }], '20261121T170000Z-0001', [3]))),
    [
      ['no deployments', { target: 'lab', skippedLines: [] }],
      ['current missing', { target: 'lab', skippedLines: [], deployments: [record] }],
      ['skipped line 0', { target: 'lab', skippedLines: [0], deployments: [] }],
    ],
  ],
  [
    'drift',
    { target: 'lab', release: record.release, commit: record.commit, inSync: false, entries: entryDrift({ entries: [{ id: 'htable/subscriber/1001', owner: 'Extension/1001', value: 'x' }] } as never, new Map([['htable/subscriber/1001', 'y'], ['htable/x/y', 'z']])), files: [{ path: 'kamailio/subscriber.htable', kind: 'changed' }], unreadable: [], daemonCompared: true },
    [
      ['inSync as text', { target: 'lab', release: 'r', inSync: 'no', entries: [], files: [], unreadable: [], daemonCompared: true }],
      ['unknown entry kind', { target: 'lab', release: 'r', inSync: false, entries: [{ id: 'a', kind: 'edited' }], files: [], unreadable: [], daemonCompared: true }],
      ['no daemonCompared', { target: 'lab', release: 'r', inSync: true, entries: [], files: [], unreadable: [] }],
    ],
  ],
  [
    'sync',
    { outcome: 'applied', source: '/srv/git/pbx.git', ref: 'main', commit: record.commit, target: 'lab', release: record.release, summary },
    [
      ['unknown outcome', { outcome: 'deployed', source: 's', ref: 'main' }],
      ['error without code', { outcome: 'failed', source: 's', ref: 'main', error: { message: 'x' } }],
      ['loop without cycles', { last: { outcome: 'noop', source: 's', ref: 'main' } }],
    ],
  ],
  ['cdr', [cdr, { ...cdr, callId: 'c2', direction: 'internal', from: '1001', to: '1002', disposition: 'busy', sipStatus: 486, billableS: 0, answeredAt: undefined, path: [] }].map((c) => JSON.parse(JSON.stringify(c))), [
    ['not an array', { cdrs: [cdr] }],
    ['startedAt as ISO text', [{ ...cdr, startedAt: '2026-11-21T16:46:00Z' }]],
    ['no path', [{ ...cdr, path: undefined }].map((c) => JSON.parse(JSON.stringify(c)))],
    ['unknown disposition', [{ ...cdr, disposition: 'ok' }]],
  ]],
  ['call', call, [
    ['no timeline', { ...call, timeline: undefined }],
    ['unknown phase', { ...call, phase: 'parked' }],
    ['position 0', { ...call, position: 0 }],
  ]],
  ['calls-list', { calls: [call] }, [
    ['a call without sources', { calls: [{ ...call, sources: undefined }] }],
    ['calls not an array', { calls: call }],
  ]],
  [
    'event',
    { type: 'call.media', seq: 7, at: NOW, callId: 'c1', packets: 50, codec: 'PCMU' },
    [
      ['no seq', { type: 'call.media', at: NOW, callId: 'c1', packets: 50 }],
      ['known type missing a field', { type: 'queue.joined', seq: 1, at: NOW, queue: 'support', callId: 'c1', caller: { number: '1001' } }],
      ['known type with a wrong type', { type: 'dialog.ended', seq: 1, at: NOW, callId: 'c', direction: 'internal', from: '1001', dialed: '1002', target: '1002', startedAt: NOW, occurredAt: NOW, status: '200', reason: 'bye' }],
      ['cdr.written with a bad CDR', { type: 'cdr.written', seq: 1, at: NOW, cdr: { ...cdr, durationS: -1 } }],
    ],
  ],
  [
    'registrations',
    { extensions: [{ extension: '1001', name: 'Alice', configured: true, contacts: [{ address: 'sip:1001@127.0.0.2:5070', expires: 60 }] }, { extension: '1999', configured: false, contacts: [] }] },
    [
      ['no configured', { extensions: [{ extension: '1001', contacts: [] }] }],
      ['contact without address', { extensions: [{ extension: '1001', configured: true, contacts: [{ expires: 60 }] }] }],
    ],
  ],
  [
    'queues',
    {
      queues: [{
        queue: 'support', waiting: 1, longestWaitMs: 5000, agentsLoggedIn: 0, agentsAvailable: 0, joined: 1, answered: 0, abandoned: 0,
        overflow: { 'max-wait': 0, 'max-callers': 0, 'join-empty': 0, 'leave-empty': 0 }, answeredWithinServiceLevel: 0, serviceLevelS: 20, serviceLevel: null, averageWaitMs: null, averageAbandonMs: 1234.5,
        callers: [{ callId: 'c1', caller: { number: '+12125550222' }, position: 1, waitMs: 5000, ringing: [] }],
      }],
      agents: [{ extension: '1003', queues: [{ queue: 'support', paused: true, pauseReason: 'lunch', loggedInAt: NOW }], activity: 'available', callsAnswered: 0 }],
    },
    [
      ['serviceLevel above 1', { queues: [{ queue: 'q', waiting: 0, longestWaitMs: 0, agentsLoggedIn: 0, agentsAvailable: 0, joined: 0, answered: 0, abandoned: 0, overflow: { 'max-wait': 0, 'max-callers': 0, 'join-empty': 0, 'leave-empty': 0 }, answeredWithinServiceLevel: 0, serviceLevelS: 20, serviceLevel: 2, averageWaitMs: null, averageAbandonMs: null, callers: [] }], agents: [] }],
      ['no agents', { queues: [] }],
      ['unknown activity', { queues: [], agents: [{ extension: '1', queues: [], activity: 'away', callsAnswered: 0 }] }],
    ],
  ],
  [
    'doctor',
    { ok: true, checks: [{ name: 'node', ok: true, required: true, detail: 'v20.20.2' }, { name: 'lab node', ok: false, required: false, detail: 'started but not answering', hint: 'pbxctl lab up' }] },
    [
      ['ok missing', { checks: [] }],
      ['check without required', { ok: true, checks: [{ name: 'node', ok: true, detail: 'v20' }] }],
    ],
  ],
  [
    'lab-up',
    labInfo,
    [
      ['no ports', { ...labInfo, ports: undefined }],
      ['port out of range', { ...labInfo, ports: { ...labInfo.ports, sip: 70000 } }],
      ['the token itself', { ...labInfo, daemonToken: 'f'.repeat(64) }],
    ],
  ],
  [
    'lab-status',
    { dir: '/tmp/lab', running: true, info: labInfo, kamailio: { pid: 100, alive: true, version: 'kamailio 5.6.4', uptimeSec: 3 }, rtpengine: { pid: 101, alive: true, pong: true }, daemon: { pid: 102, alive: true, healthy: true, configVersion: null, calls: 0 }, release: record.release },
    [
      ['no daemon', { dir: '/tmp/lab', running: false, kamailio: { alive: false }, rtpengine: { alive: false, pong: false } }],
      ['info with a bad lab.json', { dir: '/tmp/lab', running: false, info: { root: '/x' }, kamailio: { alive: false }, rtpengine: { alive: false, pong: false }, daemon: { alive: false, healthy: false } }],
    ],
  ],
  [
    'queue-agent',
    { extension: '1002', action: 'pause', queues: ['support'], agent: { extension: '1002', queues: [{ queue: 'support', paused: true, pauseReason: 'e2e', loggedInAt: NOW }], activity: 'available', callsAnswered: 0 } },
    [
      ['unknown action', { extension: '1002', action: 'break', queues: [] }],
      ['agent without activity', { extension: '1002', action: 'login', queues: ['support'], agent: { extension: '1002', queues: [], callsAnswered: 0 } }],
    ],
  ],
  [
    'voicemail-list',
    { mailbox: '1001', newCount: 1, oldCount: 0, messages: [{ mailbox: '1001', id: '1763740000000-0a1b2c3d', caller: { number: '1002', name: 'Bob' }, receivedAt: NOW, durationMs: 3200, folder: 'new' }] },
    [
      ['counts missing', { mailbox: '1001', messages: [] }],
      ['message with its file path', { mailbox: '1001', newCount: 1, oldCount: 0, messages: [{ mailbox: '1001', id: '1763740000000-0a1b2c3d', caller: { number: '1002' }, receivedAt: NOW, durationMs: 1, folder: 'new', file: '/var/x.wav' }] }],
      ['box counts as text', { mailboxes: [{ mailbox: '1001', newCount: '1', oldCount: 0 }] }],
    ],
  ],
];

describe('schemas/output', () => {
  it('every schema compiles in ajv strict mode, $id matching its file name', () => {
    const names = outputSchemaNames();
    expect(names).toEqual(expect.arrayContaining(['error', 'plan', 'validate', ...CASES.map(([n]) => n)]));
    for (const n of names) expect(() => outputValidator(n), n).not.toThrow();
  });

  it('every output schema has a case here', () => {
    const old = ['error', 'init', 'plan', 'schema-list', 'validate'];
    expect(outputSchemaNames().filter((n) => !old.includes(n)).sort()).toEqual(CASES.map(([n]) => n).sort());
  });

  for (const [name, good, bad] of CASES) {
    describe(name, () => {
      it('accepts a well-formed value', () => {
        expect(outputSchemaErrors(name, good)).toEqual([]);
      });
      it.each(bad)('rejects: %s', (_why, value) => {
        expect(outputSchemaErrors(name, value).length).toBeGreaterThan(0);
      });
      if (good && typeof good === 'object' && !Array.isArray(good)) {
        it('rejects an unknown top-level field', () => {
          expect(outputSchemaErrors(name, { ...(good as object), surprise: 1 }).length).toBeGreaterThan(0);
        });
      }
    });
  }

  it('voicemail list without MAILBOX: the box list', () => {
    expect(outputSchemaErrors('voicemail-list', { mailboxes: [{ mailbox: '1001', newCount: 2, oldCount: 1 }] })).toEqual([]);
  });

  it('sync with --interval: cycles and the last report', () => {
    expect(outputSchemaErrors('sync', { cycles: 3, last: { outcome: 'skipped', source: 's', ref: 'main', commit: record.commit } })).toEqual([]);
    expect(outputSchemaErrors('sync', { cycles: 0 })).toEqual([]);
  });

  it('event: unknown types keep only the envelope; a known type is typed exactly', () => {
    expect(outputSchemaErrors('event', { type: 'conference.joined', seq: 3, at: NOW, room: '2001' })).toEqual([]);
    expect(outputSchemaErrors('event', { type: 'call.media', seq: 3, at: NOW, callId: 'c', packets: 1, room: '2001' }).length).toBeGreaterThan(0);
    expect(outputSchemaErrors('event', { type: 'cdr.written', seq: 4, at: NOW, cdr })).toEqual([]);
  });
});
