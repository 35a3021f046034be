/**
 * templates/kamailio/kamailio.cfg against real Kamailio 5.6 + RTPengine + sipp on loopback, with
 * the hand-written node data in test/e2e/fixtures/node-basic (docs/node-data.md):
 * 1001 (maxc 2, class national) and 1002 (maxc 3, class internal); DID +15550100 -> 1002 (trunk
 * carrier-a only), DID +15550199 -> IVR (feature); trunk carrier-a = 127.0.0.1 (permissions group 1,
 * NANP numbering) with two hosts in dispatcher set 1; routes: emergency, nanp-10-digit (+1),
 * international-e164 (class international); feature numbers 6000 and *97.
 * Phones register and call from 127.0.0.2; carriers send and answer on 127.0.0.1.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { kamailioRpcCall } from '../../src/lab/index.js';
import { PHONE_IP, TRUNK_IP, startLabNode, type LabNode } from './support/lab-node.js';
import { answerer, call, finalStatus, phoneThatAnswers, register } from './support/phones.js';
import { describeSipp, runSipp, type SippResult } from '../../src/lab/sipp.js';

interface UlContact { Contact: { Address: string } }
interface UlDump { Domains: { Domain: { AoRs: { Info: { AoR: string; Contacts: UlContact[] } }[] } }[] }
interface Dialog { 'call-id': string; state: number; from_uri: string; to_uri: string }
type HtableDump = { slot: { name: string; value: string | number }[] }[];

let node: LabNode;

async function contactsOf(aor: string): Promise<string[]> {
  const dump = await node.rpc.call<UlDump>('ul.dump');
  return dump.Domains.flatMap((d) => d.Domain.AoRs)
    .filter((a) => a.Info.AoR === aor)
    .flatMap((a) => a.Info.Contacts.map((c) => c.Contact.Address));
}

async function htable(name: string): Promise<Record<string, string | number>> {
  const dump = await node.rpc.call<HtableDump>('htable.dump', [name]);
  return Object.fromEntries(dump.flatMap((b) => b.slot.map((s) => [s.name, s.value])));
}

/** Polls `check` every 100 ms until it returns a value other than undefined, or fails after `ms`. */
async function eventually<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + ms;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

const statusLine = (r: SippResult, code: number) => r.messages.find((m) => m.direction === 'received' && m.status === code)?.startLine;

describe('Kamailio node script on loopback (Kamailio + RTPengine + sipp)', () => {
  beforeAll(async () => {
    node = await startLabNode('kamailio-script');
  }, 60_000);

  afterAll(async () => {
    await node?.stop();
  }, 30_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && node) console.error(`${ctx.task.name}: node logs\n${node.logs(60)}`);
  });

  it('registers two extensions with the right password; ul.dump shows their contacts', async () => {
    const p1 = node.allocPorts();
    const p2 = node.allocPorts();
    const r1 = await register(node, '1001', p1);
    const r2 = await register(node, '1002', p2);
    expect(r1.responses, describeSipp(r1)).toEqual([401, 200]);
    expect(r2.responses, describeSipp(r2)).toEqual([401, 200]);
    expect(await contactsOf('1001')).toEqual([`sip:1001@${PHONE_IP}:${p1};transport=UDP`]);
    expect(await contactsOf('1002')).toEqual([`sip:1002@${PHONE_IP}:${p2};transport=UDP`]);
    expect(finalStatus(await register(node, '1001', p1, { expires: 0 }))).toBe(200);
    expect(finalStatus(await register(node, '1002', p2, { expires: 0 }))).toBe(200);
    expect(await contactsOf('1001')).toEqual([]);
  });

  it('stores the source address of a REGISTER from behind NAT and flags the contact for keepalives', async () => {
    const r = await register(node, '1002', 5060, { contactHost: '192.168.1.10' });
    expect(finalStatus(r), describeSipp(r)).toBe(200);
    const dump = await node.rpc.call<UlDump>('ul.dump');
    const contact = dump.Domains.flatMap((d) => d.Domain.AoRs).filter((a) => a.Info.AoR === '1002').flatMap((a) => a.Info.Contacts)[0]?.Contact as
      | { Address: string; Received: string; CFlags: number }
      | undefined;
    expect(contact?.Address).toBe('sip:1002@192.168.1.10:5060;transport=UDP');
    // fix_nated_register(): the address the REGISTER came from becomes the contact's `received`.
    expect(contact?.Received).toMatch(new RegExp(`^sip:${PHONE_IP.replace(/\./g, '\\.')}:\\d+`));
    // Branch flags 6 (NAT) and 7 (SIP OPTIONS keepalive) are stored with it (usrloc nat_bflag, nathelper sipping_bflag).
    expect((contact?.CFlags ?? 0) & ((1 << 6) | (1 << 7))).toBe((1 << 6) | (1 << 7));
    expect(finalStatus(await register(node, '1002', 5060, { contactHost: '192.168.1.10', expires: 0 }))).toBe(200);
    expect(await contactsOf('1002')).toEqual([]);
  });

  it('challenges a wrong password again (401) and registers nothing', async () => {
    const port = node.allocPorts();
    const r = await register(node, '1002', port, { password: 'not-the-password' });
    expect([401, 403], describeSipp(r)).toContain(finalStatus(r));
    expect(r.responses).not.toContain(200);
    expect(await contactsOf('1002')).toEqual([]);
  });

  it('refuses more contacts than the extension maxc (1001: 2)', async () => {
    const ports = [node.allocPorts(), node.allocPorts(), node.allocPorts()];
    const codes: (number | undefined)[] = [];
    for (const p of ports) codes.push(finalStatus(await register(node, '1001', p)));
    expect(codes).toEqual([200, 200, 503]);
    expect((await contactsOf('1001')).sort()).toEqual(ports.slice(0, 2).map((p) => `sip:1001@${PHONE_IP}:${p};transport=UDP`).sort());
    for (const p of ports.slice(0, 2)) await register(node, '1001', p, { expires: 0 });
    expect(await contactsOf('1001')).toEqual([]);
  });

  it('relays 1001 -> 1002 with media anchored in RTPengine both ways; dlg.list shows the call; BYE ends it', async () => {
    const phone = await phoneThatAnswers(node, '1002');
    try {
      const uac = await call(node, '1002', { from: '1001', durationMs: 4000 });
      const callId = `1-${uac.pid}@${PHONE_IP}`;
      const dialog = await eventually('the call in dlg.list', 5000, async () =>
        (await node.rpc.call<Dialog[]>('dlg.list')).find((d) => d['call-id'] === callId && d.state === 4));
      expect(dialog.from_uri).toContain('sip:1001@');
      expect(dialog.to_uri).toContain('sip:1002@');
      expect(await node.ng.list()).toContain(callId);
      // Each party's stream counts what RTPengine received from it: both must be flowing.
      const perTag = await eventually('RTP from both parties', 5000, async () => {
        const q = await node.ng.query({ callId });
        const counts = q.tags.map((t) => t.medias.flatMap((m) => m.streams).reduce((n, s) => n + s.stats.packets, 0));
        return counts.length === 2 && counts.every((n) => n > 10) ? counts : undefined;
      });
      expect(perTag).toHaveLength(2);
      const [caller, callee] = await Promise.all([uac.done, phone.uas.done]);
      expect(caller.exitCode, describeSipp(caller)).toBe(0);
      expect(caller.responses).toEqual(expect.arrayContaining([407, 180, 200]));
      expect(callee.exitCode, describeSipp(callee)).toBe(0);
      expect(callee.requests.map((l) => l.split(' ')[0])).toEqual(['INVITE', 'ACK', 'BYE']);
      // The SDP the callee saw points at RTPengine, not at the caller.
      const invite = callee.messages.find((m) => m.method === 'INVITE')!.text;
      expect(invite).toMatch(/c=IN IP4 127\.0\.0\.1/);
      await eventually('the dialog to end', 3000, async () =>
        (await node.rpc.call<Dialog[]>('dlg.list')).some((d) => d['call-id'] === callId && d.state < 5) ? undefined : true);
      await eventually('the RTPengine session to be deleted', 3000, async () => ((await node.ng.list()).includes(callId) ? undefined : true));
    } finally {
      await phone.uas.stop();
      await phone.unregister();
    }
  }, 30_000);

  it('answers 404 for a number that is neither internal nor matched by an outbound route', async () => {
    const r = await (await call(node, '1999', { from: '1001' })).done;
    expect(r.responses, describeSipp(r)).toEqual([407, 404]);
  });

  it('answers 480 for an extension with no registered contact', async () => {
    const r = await (await call(node, '1002', { from: '1001' })).done;
    expect(r.responses, describeSipp(r)).toEqual([407, 480]);
  });

  it('refuses an INVITE to a DID from an address that is not a trunk with 403, without a challenge', async () => {
    const e164 = await (await call(node, '+15550100', { fromIp: PHONE_IP })).done;
    expect(e164.responses, describeSipp(e164)).toEqual([403]);
    const national = await (await call(node, '15550100', { fromIp: '127.0.0.3' })).done;
    expect(national.responses, describeSipp(national)).toEqual([403]);
  });

  it('routes a DID call from the trunk address (NANP national format) to the extension', async () => {
    const phone = await phoneThatAnswers(node, '1002');
    try {
      // 1 5550100 from carrier-a (np=1, cc=1) normalizes to +15550100, the DID of 1002.
      const r = await (await call(node, '15550100', { fromIp: TRUNK_IP })).done;
      expect(r.exitCode, describeSipp(r)).toBe(0);
      expect(r.responses).toEqual(expect.arrayContaining([180, 200]));
      expect(r.responses).not.toContain(407);
      const callee = await phone.uas.done;
      expect(callee.exitCode, describeSipp(callee)).toBe(0);
      expect(callee.requests[0]).toMatch(new RegExp(`^INVITE sip:1002@${PHONE_IP.replace(/\./g, '\\.')}:${phone.contactPort}`));
    } finally {
      await phone.uas.stop();
      await phone.unregister();
    }
  }, 30_000);

  it('fails over from a carrier host answering 503 to the next host, which answers', async () => {
    const [first, second] = node.carrierPorts;
    const busy = await answerer(node, TRUNK_IP, first, 'busy', 'carrier-1');
    const ok = await answerer(node, TRUNK_IP, second, 'answer', 'carrier-2');
    try {
      const r = await (await call(node, '2125550143', { from: '1001', durationMs: 1500 })).done;
      expect(r.exitCode, describeSipp(r)).toBe(0);
      expect(r.responses).toContain(200);
      expect(r.responses).not.toContain(503);
      const [b, o] = await Promise.all([busy.done, ok.done]);
      // nanp-10-digit prepends +1; the carrier sees its own host in the request URI.
      expect(b.requests, describeSipp(b)).toEqual([`INVITE sip:+12125550143@${TRUNK_IP}:${first} SIP/2.0`, expect.stringMatching(/^ACK /)]);
      expect(o.requests[0], describeSipp(o)).toBe(`INVITE sip:+12125550143@${TRUNK_IP}:${second} SIP/2.0`);
      const invite = o.messages.find((m) => m.method === 'INVITE')!.text;
      expect(invite).toMatch(/^P-Asserted-Identity: "Alice Smith" <sip:\+15550100@pbx\.lab\.test>/m);
      // The extension's caller ID wins over the trunk's: one identity only.
      expect(invite.match(/^P-Asserted-Identity:/gm)).toHaveLength(1);
    } finally {
      await busy.stop();
      await ok.stop();
    }
  }, 30_000);

  it('asserts the trunk\'s caller ID for a caller without an external one (1002 dialling 911)', async () => {
    const [first] = node.carrierPorts;
    const ok = await answerer(node, TRUNK_IP, first, 'answer', 'carrier-cid');
    try {
      const r = await (await call(node, '911', { from: '1002', durationMs: 500 })).done;
      expect(r.exitCode, describeSipp(r)).toBe(0);
      const o = await ok.done;
      const invite = o.messages.find((m) => m.method === 'INVITE')!.text;
      expect(invite.match(/^P-Asserted-Identity:.*$/gm)).toEqual(['P-Asserted-Identity: "Harbor Main Line" <sip:+15550100@pbx.lab.test>']);
    } finally {
      await ok.stop();
    }
  }, 30_000);

  it('refuses an outbound route the caller class may not use (403), before any carrier', async () => {
    const r = await (await call(node, '+442071234567', { from: '1001' })).done;
    expect(r.responses, describeSipp(r)).toEqual([407, 403]);
  });

  it('answers 503 Feature unavailable for t=feature numbers and DIDs when the feature daemon is silent', async () => {
    // Nothing listens on the daemon port here: the branch times out after 3 s (t_set_fr).
    const internal = await (await call(node, '6000', { from: '1001' })).done;
    expect(internal.responses, describeSipp(internal)).toEqual([407, 100, 503]);
    expect(statusLine(internal, 503)).toBe('SIP/2.0 503 Feature unavailable');
    const did = await (await call(node, '+15550199', { fromIp: TRUNK_IP })).done;
    expect(did.responses, describeSipp(did)).toEqual([100, 503]);
  });

  it('sees an edited data file after htable.reload, only when its mtime moved (db_text)', async () => {
    const before = await (await call(node, '2002', { from: '1001' })).done;
    expect(before.responses, describeSipp(before)).toEqual([407, 404]);
    const original = await node.readReleaseFile('db/pbx_dial');
    const edited = `${original}2002:0:0:t=feature;dest=queue\\:support:0\n`;
    // Same content change, but the mtime left as it was (a second write within the same second):
    // db_text does not notice it and the reload keeps the old table.
    const file = join(node.root, 'current', 'db', 'pbx_dial');
    const { mtime } = await stat(file);
    await writeFile(file, edited);
    await utimes(file, mtime, mtime);
    await node.rpc.call('htable.reload', ['dial']);
    expect((await htable('dial'))['2002']).toBeUndefined();
    // The apply way: temp file, mtime past the old one, rename over it.
    await node.writeReleaseFile('db/pbx_dial', edited);
    expect(await node.rpc.call('htable.reload', ['dial'])).toBeTruthy();
    expect((await htable('dial'))['2002']).toBe('t=feature;dest=queue:support');
    const after = await (await call(node, '2002', { from: '1001' })).done;
    expect(after.responses, describeSipp(after)).toEqual([407, 100, 503]);
    await node.writeReleaseFile('db/pbx_dial', original);
    await node.rpc.call('htable.reload', ['dial']);
    expect((await htable('dial'))['2002']).toBeUndefined();
  }, 30_000);

  it('accepts dispatcher.reload and permissions.addressReload again after 1 s (reload_delta lowered from 5)', async () => {
    for (const method of ['dispatcher.reload', 'permissions.addressReload']) {
      await node.rpc.call(method);
      await sleep(1100);
      await expect(node.rpc.call(method), method).resolves.toBeTruthy();
    }
    expect(JSON.stringify(await node.rpc.call('dispatcher.list'))).toContain(`sip:127.0.0.1:${node.carrierPorts[1]}`);
    expect(JSON.stringify(await node.rpc.call('permissions.addressDump'))).toContain('"ip":"127.0.0.1"');
  });

  it('serves JSON-RPC only on the loopback RPC port, not on the SIP TCP port', async () => {
    await expect(kamailioRpcCall(node.ports.rpc, 'core.version')).resolves.toMatch(/^kamailio 5\./);
    await expect(kamailioRpcCall(node.ports.sip, 'core.version')).rejects.toThrow();
  });

  it('answers keepalive OPTIONS, and drops and bans a scanner user agent', async () => {
    const ok = await runSipp({
      scenario: 'options.xml', target: node.sipTarget, workDir: node.workDir, name: 'options-ok',
      localIp: PHONE_IP, localPort: node.allocPorts(), keys: { ua: 'Yealink SIP-T46U' }, timeoutSec: 5,
    });
    expect(ok.responses, describeSipp(ok)).toEqual([200]);
    const scanner = await runSipp({
      scenario: 'options.xml', target: node.sipTarget, workDir: node.workDir, name: 'options-scanner',
      localIp: '127.0.0.9', localPort: node.allocPorts(), keys: { ua: 'friendly-scanner' }, timeoutSec: 2,
    });
    expect(scanner.responses, describeSipp(scanner)).toEqual([]);
    expect(Object.keys(await htable('ipban'))).toContain('127.0.0.9');
  });

  it('bans a flooding address (pike) and drops its requests', async () => {
    const flood = await runSipp({
      scenario: 'options.xml', target: node.sipTarget, workDir: node.workDir, name: 'options-flood',
      localIp: '127.0.0.7', localPort: node.allocPorts(), keys: { ua: 'flood-test' }, timeoutSec: 3,
      calls: 60, extraArgs: ['-r', '100'],
    });
    expect(flood.responses.length, describeSipp(flood)).toBeGreaterThan(0);
    expect(flood.responses.length).toBeLessThan(60);
    expect(Object.keys(await htable('ipban'))).toContain('127.0.0.7');
  });

  it('bans an address after repeated authentication failures', async () => {
    const from = { fromIp: '127.0.0.8', password: 'guess' };
    const finals: (number | undefined)[] = [];
    for (let i = 0; i < 5; i++) finals.push(finalStatus(await register(node, '1001', node.allocPorts(), from)));
    expect(finals).toEqual([401, 401, 401, 401, 403]);
    const banned = await register(node, '1001', node.allocPorts(), { ...from, timeoutSec: 3 });
    expect(banned.responses).toEqual([]);
    expect(Object.keys(await htable('ipban'))).toContain('127.0.0.8');
  }, 60_000);
});
