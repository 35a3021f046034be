/**
 * A test call through a node, the way an engineer checks a PBX after a change: one sipp phone
 * registers as the callee and answers, another calls it as the caller, both send G.711 audio, and
 * RTPengine's counters show whether media flowed through it both ways. Loopback only: the phones
 * bind 127.0.0.2 (not a trunk address) on ports from the lab's client range.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NgClient } from '../rtpengine/ng-client.js';
import { runSipp, startSipp, type SippResult } from './sipp.js';

/** A phone's credentials: extension number and SIP password. */
export interface PhoneCredentials {
  user: string;
  password: string;
}

export interface TestCallOptions {
  /** Kamailio's SIP address and port. */
  sip: { host: string; port: number };
  /** RTPengine's NG socket, for the media counters. */
  ng: { host: string; port: number };
  from: PhoneCredentials;
  to: PhoneCredentials;
  /** First of 12 free ports for the phones (SIP and media). */
  portBase: number;
  /** How long the call stays up, ms (default 3000); with `dtmf`, the wait before the digit. */
  durationMs?: number;
  /** The number the caller dials when it is not the callee's extension (e.g. an IVR's `700`). */
  dial?: string;
  /** A digit ('0'-'9', '*', '#') the caller sends as RFC 4733 events once answered (an IVR choice). */
  dtmf?: string;
}

export interface TestCallResult {
  /** Final status of the callee's REGISTER (200 expected). */
  register: number | undefined;
  /** Every response the caller received to its INVITE, in order (e.g. 100 180 200). */
  inviteResponses: number[];
  answered: boolean;
  /** Requests the callee received (INVITE, ACK, BYE when all went well). */
  calleeRequests: string[];
  /** RTP packets RTPengine received from each party while the call was up (0 when not measured). */
  media: { fromCaller: number; fromCallee: number };
  ok: boolean;
  /** Why it failed, in one line. */
  problem?: string;
}

const PHONE_IP = '127.0.0.2';
const final = (r: SippResult) => r.responses.filter((c) => c >= 200).at(-1);

/**
 * Places the call and reports what happened. Never throws for a failed call (that is a result);
 * throws only when sipp cannot run at all.
 * @throws PbxError LAB_BINARY_MISSING when sipp is not installed
 */
export async function testCall(o: TestCallOptions): Promise<TestCallResult> {
  const workDir = await mkdtemp(join(tmpdir(), 'pbxctl-call-'));
  const target = `${o.sip.host}:${o.sip.port}`;
  const contactPort = o.portBase;
  const result: TestCallResult = { register: undefined, inviteResponses: [], answered: false, calleeRequests: [], media: { fromCaller: 0, fromCallee: 0 }, ok: false };
  const ng = new NgClient({ host: o.ng.host, port: o.ng.port, timeoutMs: 500, retries: 1 });
  // The feature daemon sends a phone an unsolicited message-summary NOTIFY (RFC 3842) when it
  // registers. sipp counts that out-of-dialog NOTIFY as a call of its own (answered 200 by -aa),
  // so the phone takes two "calls" and is stopped once the caller is done.
  const uas = await startSipp({ scenario: 'uas-answer.xml', target, workDir, name: 'callee', localIp: PHONE_IP, localPort: contactPort, mediaPort: o.portBase + 2, timeoutSec: 30, calls: 2, extraArgs: ['-aa'] });
  try {
    const reg = await runSipp({
      scenario: 'register.xml', target, workDir, name: 'register', localIp: PHONE_IP, localPort: o.portBase + 1, timeoutSec: 10,
      service: o.to.user, auth: o.to, keys: { contact_host: PHONE_IP, contact_port: contactPort, expires: 120 },
    });
    result.register = final(reg);
    if (result.register !== 200) {
      result.problem = `callee ${o.to.user} could not register: ${reg.responses.join(' ') || 'no answer'}`;
      return result;
    }
    const dtmfPcap = o.dtmf === undefined ? undefined : `/usr/share/sip-tester/dtmf_2833_${o.dtmf === '*' ? 'star' : o.dtmf === '#' ? 'pound' : o.dtmf}.pcap`;
    const uac = await startSipp({
      scenario: dtmfPcap ? 'uac-call-dtmf.xml' : 'uac-call.xml', target, workDir, name: 'caller', localIp: PHONE_IP, localPort: o.portBase + 6, mediaPort: o.portBase + 8, timeoutSec: 40,
      service: o.dial ?? o.to.user, durationMs: o.durationMs ?? 3000, auth: o.from, keys: { from_user: o.from.user, ...(dtmfPcap ? { dtmf_pcap: dtmfPcap } : {}) },
    });
    // Sample RTPengine's counters while the call is up (the session is deleted at BYE).
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await new Promise((r) => setTimeout(r, 250));
        try {
          for (const callId of await ng.list()) {
            const q = await ng.query({ callId });
            const perTag = q.tags.map((t) => t.medias.flatMap((m) => m.streams).reduce((n, s) => n + s.stats.packets, 0));
            if (perTag.length >= 2) {
              // tags[] order is unspecified; the caller's tag is the From tag sipp sets ("PID-N").
              const callerIdx = q.tags.findIndex((t) => /^\d+-\d+$/.test(t.tag));
              const i = callerIdx >= 0 ? callerIdx : 0;
              // Through the feature daemon the call has more tags (the daemon's, which never sends, and
              // one per dialled leg): the callee is the other party that sent the most.
              const others = perTag.filter((_, j) => j !== i);
              result.media = { fromCaller: Math.max(result.media.fromCaller, perTag[i]!), fromCallee: Math.max(result.media.fromCallee, ...others) };
            }
          }
        } catch {
          // RTPengine busy or the call just ended: the next sample tells
        }
      }
    })();
    const r = await uac.done;
    sampling = false;
    await sampler;
    result.inviteResponses = r.responses;
    result.answered = r.responses.includes(200) && r.successful === 1;
    result.calleeRequests = (await uas.stop()).requests.map((l) => l.split(' ')[0]!);
    if (!result.answered) result.problem = `call not answered: ${r.responses.join(' ') || 'no answer'}`;
    else if (result.media.fromCaller === 0 || result.media.fromCallee === 0) result.problem = 'no media through RTPengine in one direction';
    result.ok = !result.problem;
    // Remove the callee's binding so the node is as it was.
    await runSipp({ scenario: 'register.xml', target, workDir, name: 'unregister', localIp: PHONE_IP, localPort: o.portBase + 1, timeoutSec: 10, service: o.to.user, auth: o.to, keys: { contact_host: PHONE_IP, contact_port: contactPort, expires: 0 } });
    return result;
  } finally {
    await uas.stop();
    await ng.close();
    await rm(workDir, { recursive: true, force: true });
  }
}
