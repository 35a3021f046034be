/**
 * Phone- and carrier-shaped sipp helpers over a {@link LabNode}: REGISTER, answer calls, place
 * calls. Every helper uses fresh ports from the node's client range, so a late retransmission
 * from one test can never reach another test's sipp.
 */
import { PASSWORDS, PHONE_IP, TRUNK_IP, type LabNode } from './lab-node.js';
import { runSipp, startSipp, type SippResult, type SippRun } from '../../../src/lab/sipp.js';

let runs = 0;
const label = (what: string) => `${String(++runs).padStart(2, '0')}-${what.replace(/[^A-Za-z0-9+-]/g, '_')}`;

/** Final status of the authenticated REGISTER (the last response sipp received). */
export function finalStatus(r: SippResult): number | undefined {
  return r.responses.filter((c) => c >= 200).at(-1);
}

/**
 * REGISTERs `user` with Contact `contactHost:contactPort` (register.xml: 401 challenge, then
 * credentials; contactHost defaults to the address it sends from). `expires: 0` removes that contact.
 */
export async function register(
  node: LabNode,
  user: string,
  contactPort: number,
  o: { password?: string; expires?: number; fromIp?: string; timeoutSec?: number; contactHost?: string } = {},
): Promise<SippResult> {
  return runSipp({
    scenario: 'register.xml', target: node.sipTarget, workDir: node.workDir, name: label(`register-${user}-${contactPort}`),
    localIp: o.fromIp ?? PHONE_IP, localPort: node.allocPorts(), timeoutSec: o.timeoutSec ?? 10,
    service: user, auth: { user, password: o.password ?? PASSWORDS[user] ?? 'x' },
    keys: { contact_host: o.contactHost ?? o.fromIp ?? PHONE_IP, contact_port: contactPort, expires: o.expires ?? 300 },
  });
}

/** A sipp UAS on `ip:port` that answers one call (uas-answer.xml) or refuses it with 503 (uas-busy.xml). */
export async function answerer(node: LabNode, ip: string, port: number, kind: 'answer' | 'busy' = 'answer', name: string = kind): Promise<SippRun> {
  return startSipp({
    scenario: kind === 'answer' ? 'uas-answer.xml' : 'uas-busy.xml', target: node.sipTarget, workDir: node.workDir, name: label(`uas-${name}`),
    localIp: ip, localPort: port, mediaPort: node.allocPorts(4), timeoutSec: 30,
  });
}

/** A registered phone that answers one call: 1002 at PHONE_IP with a fresh contact port. */
export async function phoneThatAnswers(node: LabNode, user: string, password?: string): Promise<{ uas: SippRun; contactPort: number; unregister: () => Promise<void> }> {
  const contactPort = node.allocPorts();
  const uas = await answerer(node, PHONE_IP, contactPort, 'answer', `phone-${user}`);
  const reg = await register(node, user, contactPort, password ? { password } : {});
  if (finalStatus(reg) !== 200) {
    await uas.stop();
    throw new Error(`${user} did not register: responses ${reg.responses.join(' ')}`);
  }
  return {
    uas,
    contactPort,
    unregister: async () => {
      await register(node, user, contactPort, { expires: 0, ...(password ? { password } : {}) });
    },
  };
}

/**
 * Places one call with uac-call.xml to `number`: from an extension (`from` with its password,
 * from PHONE_IP) or, with `from: undefined`, unauthenticated from `fromIp` (default: the trunk).
 */
export async function call(
  node: LabNode,
  number: string,
  o: { from?: string; password?: string; fromIp?: string; durationMs?: number; fromUser?: string } = {},
): Promise<SippRun> {
  const fromIp = o.fromIp ?? (o.from ? PHONE_IP : TRUNK_IP);
  return startSipp({
    scenario: 'uac-call.xml', target: node.sipTarget, workDir: node.workDir, name: label(`call-${o.from ?? 'carrier'}-${number}`),
    localIp: fromIp, localPort: node.allocPorts(), mediaPort: node.allocPorts(4), timeoutSec: 30,
    service: number, durationMs: o.durationMs ?? 1000,
    ...(o.from ? { auth: { user: o.from, password: o.password ?? PASSWORDS[o.from] ?? 'x' } } : {}),
    keys: { from_user: o.fromUser ?? o.from ?? '+12125550199' },
  });
}
