/**
 * Calls Kamailio refuses itself get a CDR (route[CDR_REJECTED] in templates/kamailio/kamailio.cfg,
 * docs/cdr.md): real Kamailio (evapi) and RTPengine, the feature daemon in this process with
 * `evapi`, sipp as carrier and phone. Do-not-disturb (486, from a trunk and from an extension), a
 * trunk call to a number that is no DID, to a DID of another trunk, a bad DID entry and a bad
 * number-plan entry each give exactly one CDR with the right direction, status and disposition.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cdr } from '../../src/daemon/cdr/cdr-types.js';
import { DaemonClient } from '../../src/daemon/daemon-client.js';
import { startDaemon, type RunningDaemon } from '../../src/daemon/daemon.js';
import { describeSipp, type SippResult } from '../../src/lab/sipp.js';
import { addHtableRows, eventually } from './support/feature-repo.js';
import { startLabNode, type LabNode } from './support/lab-node.js';
import { call, finalStatus } from './support/phones.js';

const TOKEN = 'e2e-token-cdr-refused-0123456789';

let node: LabNode;
let daemon: RunningDaemon;
let client: DaemonClient;
const logs: string[] = [];

beforeAll(async () => {
  node = await startLabNode('cdr-refused');
  // 1003 has do-not-disturb on and no forward; DIDs and dial entries for the refusals below.
  await node.writeReleaseFile('db/pbx_ext', `${await node.readReleaseFile('db/pbx_ext')}1003:0:0:maxc=1;class=internal;dnd=1:0\n`);
  await node.rpc.call('htable.reload', ['ext']);
  await addHtableRows(node, 'did', [
    '+15550133:0:0:t=ext;ext=1003:0',
    '+15550134:0:0:t=ext;ext=1002;trunk=carrier-b:0',
    '+15550135:0:0:t=nonsense:0',
  ]);
  await addHtableRows(node, 'dial', ['1003:0:0:t=ext;ext=1003:0', '7777:0:0:t=nonsense:0']);
  daemon = await startDaemon({
    root: node.root, sipAddress: '127.0.0.1', sipPort: node.ports.daemonSip,
    kamailio: { host: '127.0.0.1', port: node.ports.sip }, ng: { host: '127.0.0.1', port: node.ports.ng },
    apiPort: node.ports.daemonApi, token: TOKEN, rtp: { min: node.ports.daemonRtpMin, max: node.ports.daemonRtpMax },
    stateDir: join(node.workDir, 'daemon-state'), evapi: { host: '127.0.0.1', port: node.ports.evapi },
    logger: { debug: () => undefined, info: (m) => logs.push(m), warn: (m) => logs.push(m), error: (m) => logs.push(m) },
  });
  client = new DaemonClient({ host: '127.0.0.1', port: node.ports.daemonApi, token: TOKEN });
  await eventually(() => expect(logs).toContain('connected to Kamailio evapi'));
}, 60_000);

afterAll(async () => {
  await daemon?.stop();
  await node?.stop();
});

/** The Call-ID of the (only) call sipp placed, from its first sent message. */
function callIdOf(result: SippResult): string {
  const sent = result.messages.find((m) => m.direction === 'sent');
  const m = sent ? /^Call-ID:\s*(\S+)/im.exec(sent.text) : null;
  if (!m?.[1]) throw new Error(`no Call-ID in the sipp log: ${describeSipp(result)}`);
  return m[1];
}

/** The one CDR of `callId` (exactly one, or the check fails). */
async function cdrOf(callId: string): Promise<Cdr> {
  return eventually(async () => {
    const mine = (await client.cdrs({ limit: 1000 }, 'json')).cdrs.filter((c) => c.callId === callId);
    expect(mine).toHaveLength(1);
    return mine[0]!;
  }, 10_000);
}

/** Places one call, expects Kamailio's final `status`, and returns the call's CDR. */
async function refused(number: string, status: number, o: Parameters<typeof call>[2] = {}): Promise<Cdr> {
  const r = await (await call(node, number, o)).done;
  expect(finalStatus(r), describeSipp(r)).toBe(status);
  const cdr = await cdrOf(callIdOf(r));
  expect(cdr.sipStatus).toBe(status);
  expect(cdr.answeredAt).toBeUndefined();
  expect(cdr.billableS).toBe(0);
  return cdr;
}

describe('CDRs of calls Kamailio refuses itself (Kamailio evapi + daemon + sipp)', () => {
  it('do-not-disturb from a trunk: 486, an inbound busy CDR with the DID', async () => {
    const cdr = await refused('+15550133', 486, { fromUser: '+12125550101' });
    expect(cdr).toMatchObject({ direction: 'inbound', disposition: 'busy', from: '+12125550101', did: '+15550133', trunk: 'carrier-a' });
  });

  it('do-not-disturb from an extension: 486, an internal busy CDR', async () => {
    const cdr = await refused('1003', 486, { from: '1001' });
    expect(cdr).toMatchObject({ direction: 'internal', disposition: 'busy', from: '1001', to: '1003' });
  });

  it('a trunk call to a number that is no DID: 404, an inbound failed CDR', async () => {
    const cdr = await refused('+15550999', 404, { fromUser: '+12125550102' });
    expect(cdr).toMatchObject({ direction: 'inbound', disposition: 'failed', from: '+12125550102', to: '+15550999', trunk: 'carrier-a' });
  });

  it('a DID restricted to another trunk: 404, an inbound failed CDR', async () => {
    const cdr = await refused('+15550134', 404);
    expect(cdr).toMatchObject({ direction: 'inbound', disposition: 'failed', did: '+15550134' });
  });

  it('bad htable entries (DID, number plan): 500, a failed CDR each', async () => {
    expect(await refused('+15550135', 500)).toMatchObject({ direction: 'inbound', disposition: 'failed', did: '+15550135' });
    expect(await refused('7777', 500, { from: '1001' })).toMatchObject({ direction: 'internal', disposition: 'failed', to: '7777' });
  });
});
