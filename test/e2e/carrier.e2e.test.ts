/**
 * Registration trunks against real Kamailio 5.6 + RTPengine + sipp on loopback: the node REGISTERs
 * to the carrier from the uac `uacreg` table (answering the registrar's 401), answers a carrier's
 * 407 on an outbound INVITE with the same credentials (uac_auth), and sends the number in the
 * trunk's outbound format (dispatcher attrs fmt/cc/np/ip). The fixture (node-basic) starts with no
 * registration; the tests write the trunk's rows the way apply renders them (renderReleaseFiles)
 * and reload with the RPCs apply uses.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { uacRegValue, type NodeEntry } from '../../src/compile/node-data.js';
import { renderReleaseFiles } from '../../src/compile/release-files.js';
import { readUacReg } from '../../src/kamailio/live-state.js';
import { describeSipp, startSipp, type SippResult, type SippRun } from '../../src/lab/sipp.js';
import { TRUNK_IP, startLabNode, type LabNode } from './support/lab-node.js';
import { answerer, call } from './support/phones.js';

const USER = '2125550100';
const PASSWORD = 'carrier-s3cret;x:y';
const REALM = 'sip.carrier.test';

let node: LabNode;

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** The parameters of a `Digest ...` credentials header in a received request. */
function digestParams(r: SippResult, method: string, header: 'Authorization' | 'Proxy-Authorization'): Record<string, string> {
  const req = r.messages.filter((m) => m.direction === 'received' && m.method === method).at(-1);
  const line = req?.text.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${header.toLowerCase()}:`));
  if (!line) throw new Error(`no ${header} in the last ${method}: ${describeSipp(r)}`);
  return Object.fromEntries([...line.matchAll(/(\w+)=(?:"([^"]*)"|([^\s,]+))/g)].map((m) => [m[1]!, m[2] ?? m[3]!]));
}

/** RFC 2617 §3.2.2.1 without qop: MD5(MD5(user:realm:password):nonce:MD5(method:uri)). */
function expectedResponse(p: Record<string, string>, method: string, password: string): string {
  return md5(`${md5(`${p.username}:${p.realm}:${password}`)}:${p.nonce}:${md5(`${method}:${p.uri}`)}`);
}

/** A carrier sipp on TRUNK_IP:port running one of the challenge scenarios. */
function carrier(scenario: 'uas-registrar.xml' | 'uas-challenge-answer.xml', port: number, nonce: string): Promise<SippRun> {
  return startSipp({
    scenario, target: node.sipTarget, workDir: node.workDir, name: `${scenario.replace('.xml', '')}-${port}`,
    localIp: TRUNK_IP, localPort: port, mediaPort: node.allocPorts(4), timeoutSec: 40, keys: { realm: REALM, nonce },
  });
}

/** Writes db/uacreg as apply renders it (one registration trunk) and reloads it. */
async function installRegistration(registrarPort: number): Promise<void> {
  const entry: NodeEntry = {
    id: 'uacreg/carrier-a', owner: 'Trunk/carrier-a', sensitive: true,
    value: uacRegValue({
      l_username: USER, l_domain: '', r_username: USER, r_domain: `${TRUNK_IP}:${registrarPort}`, realm: REALM,
      auth_username: USER, auth_password: PASSWORD, auth_proxy: `sip:${TRUNK_IP}:${registrarPort}`, expires: 600,
    }),
  };
  const file = renderReleaseFiles([entry]).find((f) => f.path === 'db/uacreg')!;
  await node.writeReleaseFile('db/uacreg', file.content);
  await node.rpc.call('uac.reg_reload');
}

describe('registration trunks on loopback (Kamailio uac + sipp carrier)', () => {
  beforeAll(async () => {
    node = await startLabNode('carrier');
  }, 60_000);

  afterAll(async () => {
    await node?.stop();
  }, 30_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && node) console.error(`${ctx.task.name}: node logs\n${node.logs(60)}`);
  });

  it('REGISTERs to the carrier, answering its 401 with the trunk credentials; uac.reg_dump reads the row back', async () => {
    const [registrarPort] = node.carrierPorts;
    const registrar = await carrier('uas-registrar.xml', registrarPort, 'reg-nonce-1');
    try {
      await installRegistration(registrarPort);
      // The uac timer (every 10 s) sends the first REGISTER.
      const r = await registrar.done;
      expect(r.exitCode, describeSipp(r)).toBe(0);
      const registers = r.messages.filter((m) => m.direction === 'received' && m.method === 'REGISTER');
      expect(registers).toHaveLength(2);
      expect(registers[0]!.startLine).toBe(`REGISTER sip:${TRUNK_IP}:${registrarPort} SIP/2.0`);
      expect(registers[0]!.text).toMatch(new RegExp(`^To: <sip:${USER}@${TRUNK_IP.replace(/\./g, '\\.')}:${registrarPort}>`, 'm'));
      // Contact: l_uuid (the trunk id) at the node's SIP address (reg_contact_addr).
      expect(registers[0]!.text).toMatch(new RegExp(`^Contact: <sip:carrier-a@${node.sipTarget.replace(/\./g, '\\.')}>`, 'm'));
      const auth = digestParams(r, 'REGISTER', 'Authorization');
      expect(auth).toMatchObject({ username: USER, realm: REALM, nonce: 'reg-nonce-1' });
      expect(auth.response).toBe(expectedResponse(auth, 'REGISTER', PASSWORD));
      // uac marks the registration online (flag 4) once the 200 arrived.
      let flags = 0;
      for (let i = 0; i < 30 && !(flags & 4); i++) {
        const dump = await node.rpc.call<{ l_uuid: string; flags: number }[]>('uac.reg_dump');
        flags = dump.find((d) => d.l_uuid === 'carrier-a')?.flags ?? 0;
        if (!(flags & 4)) await sleep(100);
      }
      expect(flags & 4).toBe(4);
      // live-state maps the dump back to the entry apply compiled (so plan sees no difference).
      const live = await readUacReg(node.rpc);
      expect([...live.keys()]).toEqual(['uacreg/carrier-a']);
      expect(JSON.parse(live.get('uacreg/carrier-a')!.slice(5))).toMatchObject({ auth_password: PASSWORD, realm: REALM, expires: 600 });
    } finally {
      await registrar.stop();
    }
  }, 40_000);

  it('answers the carrier\'s 407 with uac_auth and sends the number in the trunk\'s national format', async () => {
    const [first, second] = node.carrierPorts;
    // carrier-a's hosts want national numbers (cc 1, np 1): +12125550143 -> 12125550143.
    const list = await node.readReleaseFile('dispatcher.list');
    await node.writeReleaseFile('dispatcher.list', list.replaceAll('trunk=carrier-a;weight=100', 'trunk=carrier-a;weight=100;fmt=national;cc=1;np=1;ip=011'));
    await node.rpc.call('dispatcher.reload');
    const uas = await carrier('uas-challenge-answer.xml', first, 'inv-nonce-1');
    const spare = await answerer(node, TRUNK_IP, second, 'answer', 'carrier-spare');
    try {
      const r = await (await call(node, '2125550143', { from: '1001', durationMs: 1500 })).done;
      expect(r.exitCode, describeSipp(r)).toBe(0);
      expect(r.responses).toContain(200);
      // The phone sees its own proxy's challenge only, never the carrier's.
      expect(r.responses.filter((c) => c === 407)).toHaveLength(1);
      const c = await uas.done;
      expect(c.exitCode, describeSipp(c)).toBe(0);
      const invites = c.messages.filter((m) => m.direction === 'received' && m.method === 'INVITE');
      expect(invites.map((m) => m.startLine)).toEqual([
        `INVITE sip:12125550143@${TRUNK_IP}:${first} SIP/2.0`,
        `INVITE sip:12125550143@${TRUNK_IP}:${first} SIP/2.0`,
      ]);
      const auth = digestParams(c, 'INVITE', 'Proxy-Authorization');
      expect(auth).toMatchObject({ username: USER, realm: REALM, nonce: 'inv-nonce-1', uri: `sip:12125550143@${TRUNK_IP}:${first}` });
      expect(auth.response).toBe(expectedResponse(auth, 'INVITE', PASSWORD));
      expect(c.requests.map((l) => l.split(' ')[0])).toEqual(['INVITE', 'ACK', 'INVITE', 'ACK', 'BYE']);
    } finally {
      await uas.stop();
      const s = await spare.stop();
      // The second host was never needed.
      expect(s.requests).toEqual([]);
    }
  }, 40_000);
});
