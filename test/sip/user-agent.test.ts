/**
 * Two UserAgents talking to each other over loopback UDP and TCP (each the other's outbound proxy):
 * call setup with early media, BYE, CANCEL → 487, timeouts, rejection, re-INVITE both ways and
 * glare (§14.1), lost ACK → 2xx retransmission (§13.3.1.4), no ACK → BYE, INFO, §8.2 request
 * validation (405/416/420/481/483/415), untrusted peers and garbage, close() and leak checks.
 * Then interoperability with a real SIPp UAC and UAS.
 */
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import { parseMessage } from '../../src/sip/parse.js';
import { buildResponse, serializeMessage } from '../../src/sip/serialize.js';
import { getHeader } from '../../src/sip/headers.js';
import { systemClock, type Clock, type TimerHandle } from '../../src/sip/timers.js';
import { SipTransport, type TransportProtocol } from '../../src/sip/transport.js';
import { checkRequest } from '../../src/sip/ua-core.js';
import {
  ClientCallState,
  ServerCallState,
  SessionState,
  SipError,
  UserAgent,
  type ServerCall,
  type Session,
  type UserAgentOptions,
} from '../../src/sip/user-agent.js';

const OFFER = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n';
const ANSWER = OFFER.replace('40000', '40002').replace('o=- 1 1', 'o=- 2 2');
const HOLD = `${OFFER}a=sendonly\r\n`;

/** Real timers, counted, so a test can prove nothing is left running. */
class CountingClock implements Clock {
  readonly live = new Set<TimerHandle>();
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle: TimerHandle = systemClock.setTimeout(() => {
      this.live.delete(handle);
      fn();
    }, ms);
    this.live.add(handle);
    return handle;
  }
  clearTimeout(handle: TimerHandle): void {
    this.live.delete(handle);
    systemClock.clearTimeout(handle);
  }
  now(): number {
    return Date.now();
  }
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

interface Pair {
  a: UserAgent;
  b: UserAgent;
  ta: SipTransport;
  tb: SipTransport;
  clock: CountingClock;
  uri: (user: string) => string;
}

async function pair(protocol: TransportProtocol, extra: Partial<UserAgentOptions> = {}, bExtra: Partial<UserAgentOptions> = {}): Promise<Pair> {
  const ta = await SipTransport.listen({ host: '127.0.0.1', port: 0, trustedPeers: ['127.0.0.1'] });
  const tb = await SipTransport.listen({ host: '127.0.0.1', port: 0, trustedPeers: ['127.0.0.1'] });
  const clock = new CountingClock();
  const common = { clock, timers: { t1: 50 }, ...extra };
  const a = new UserAgent({ transport: ta, outboundProxy: { host: '127.0.0.1', port: tb.local.port, protocol }, contactUser: 'a', ...common });
  const b = new UserAgent({ transport: tb, outboundProxy: { host: '127.0.0.1', port: ta.local.port, protocol }, contactUser: 'b', ...common, ...bExtra });
  cleanup.push(() => a.close(), () => b.close());
  return { a, b, ta, tb, clock, uri: (user) => `sip:${user}@127.0.0.1:${tb.local.port}` };
}

function nextCall(ua: UserAgent): Promise<ServerCall> {
  return new Promise((resolve) => ua.onInvite(resolve));
}

function dial(p: Pair, extra: { timeoutMs?: number; sdp?: string } = {}) {
  return p.a.invite({ requestUri: p.uri('1001'), from: '"Daemon" <sip:daemon@127.0.0.1>', to: '<sip:1001@127.0.0.1>', sdp: OFFER, ...extra });
}

async function connect(p: Pair): Promise<{ caller: Session; callee: Session; call: ServerCall }> {
  const incoming = nextCall(p.b);
  const outgoing = dial(p);
  const call = await incoming;
  const [callee, caller] = await Promise.all([call.accept(ANSWER), outgoing.result()]);
  return { caller, callee, call };
}

/** A hand-driven SIP peer on a raw UDP socket: send text, await messages by predicate. */
async function rawPeer(): Promise<{
  port: number;
  send(data: string | Buffer, port: number): void;
  next(pred: (m: SipRequest | SipResponse) => boolean): Promise<SipRequest | SipResponse>;
  count(pred: (m: SipRequest | SipResponse) => boolean): number;
}> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  cleanup.push(() => new Promise<void>((r) => socket.close(() => r())));
  const inbox: (SipRequest | SipResponse)[] = [];
  const seen: (SipRequest | SipResponse)[] = [];
  const waiters: (() => void)[] = [];
  socket.on('message', (m) => {
    const message = parseMessage(m) as SipRequest | SipResponse;
    inbox.push(message);
    seen.push(message);
    for (const w of waiters.splice(0)) w();
  });
  return {
    port: socket.address().port,
    send: (data, port) => void socket.send(data, port, '127.0.0.1'),
    async next(pred) {
      for (;;) {
        const i = inbox.findIndex(pred);
        if (i >= 0) return inbox.splice(i, 1)[0]!;
        await new Promise<void>((r) => waiters.push(r));
      }
    },
    count: (pred) => seen.filter(pred).length,
  };
}

const isRequest = (method: string) => (m: SipRequest | SipResponse): boolean => m.kind === 'request' && m.method === method;
const isStatus = (status: number) => (m: SipRequest | SipResponse): boolean => m.kind === 'response' && m.status === status;

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const once = <T>(emitter: { once(e: string, f: (v: T) => void): unknown }, event: string): Promise<T> =>
  new Promise((resolve) => emitter.once(event, resolve));

describe.each(['UDP', 'TCP'] as const)('two user agents over %s', (protocol) => {
  it('sets up a call with ringing and early media, then hangs up with BYE', async () => {
    const p = await pair(protocol);
    const incoming = nextCall(p.b);
    const call = dial(p);
    const progress: [number, string | undefined][] = [];
    call.on('progress', (r, sdp) => progress.push([r.status, sdp]));
    const sc = await incoming;
    expect(sc.remoteSdp).toBe(OFFER);
    expect(sc.from.displayName).toBe('Daemon');
    sc.progress(180);
    sc.progress(183, { sdp: ANSWER });
    const [callee, caller] = await Promise.all([sc.accept(ANSWER), call.result()]);
    expect(progress.filter(([s]) => s !== 100)).toEqual([[180, undefined], [183, ANSWER]]);
    expect(call.state).toBe(ClientCallState.Answered);
    expect(sc.state).toBe(ServerCallState.Confirmed);
    expect(caller.remoteSdp).toBe(ANSWER);
    expect(callee.remoteSdp).toBe(OFFER);
    expect(caller.dialog.callId).toBe(callee.dialog.callId);
    expect(caller.dialog.remoteTag).toBe(callee.dialog.localTag);
    expect(getHeader(call.request, 'Via')).toContain(`SIP/2.0/${protocol} 127.0.0.1:${p.ta.local.port}`);
    expect(getHeader(call.request, 'Contact')).toBe(`<sip:a@127.0.0.1:${p.ta.local.port}${protocol === 'TCP' ? ';transport=tcp' : ''}>`);

    const bye = once<SipRequest>(callee, 'bye');
    const ended = once<string>(callee, 'terminated');
    await caller.bye();
    expect((await bye).method).toBe('BYE');
    expect(await ended).toBe('remote-bye');
    expect(caller.state).toBe(SessionState.Terminated);
    expect(caller.reason).toBe('local-bye');
    expect(p.a.size.dialogs + p.b.size.dialogs + p.a.size.calls + p.b.size.calls).toBe(0);
  });

  it('cancels a ringing call: 200 to the CANCEL, 487 to the INVITE (§9)', async () => {
    const p = await pair(protocol);
    const incoming = nextCall(p.b);
    const call = dial(p);
    call.on('progress', (r) => r.status === 180 && call.cancel());
    const sc = await incoming;
    const cancelled = once<SipRequest>(sc, 'cancel');
    sc.progress(180);
    const err = await call.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SipError);
    expect(err).toMatchObject({ code: 'CANCELLED', status: 487 });
    expect((err as SipError).response?.status).toBe(487);
    expect((await cancelled).method).toBe('CANCEL');
    expect(sc.state).toBe(ServerCallState.Cancelled);
    await expect(sc.accept(ANSWER)).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('holds a CANCEL until the first provisional (the automatic 100 Trying, §9.1)', async () => {
    const p = await pair(protocol);
    const incoming = nextCall(p.b);
    const call = dial(p);
    call.cancel();
    expect(call.state).toBe(ClientCallState.Cancelling);
    const sc = await incoming;
    await once(sc, 'cancel');
    await expect(call.result()).rejects.toMatchObject({ code: 'CANCELLED', status: 487 });
  });

  it('gives up after timeoutMs with CANCEL, reported as TIMEOUT 408', async () => {
    const p = await pair(protocol);
    const incoming = nextCall(p.b);
    const call = dial(p, { timeoutMs: 300 });
    const sc = await incoming;
    sc.progress(180);
    await expect(call.result()).rejects.toMatchObject({ code: 'TIMEOUT', status: 408 });
    expect(sc.state).toBe(ServerCallState.Cancelled);
  });

  it('reports a rejection with its status', async () => {
    const p = await pair(protocol);
    p.b.onInvite((sc) => sc.reject(486));
    await expect(dial(p).result()).rejects.toMatchObject({ code: 'REJECTED', status: 486 });
  });

  it('answers 480 without an INVITE handler', async () => {
    const p = await pair(protocol);
    await expect(dial(p).result()).rejects.toMatchObject({ status: 480 });
  });

  it('re-INVITEs both ways: the offer handler answers, or the current SDP is repeated', async () => {
    const p = await pair(protocol);
    const { caller, callee } = await connect(p);
    const offers: (string | undefined)[] = [];
    callee.onOffer((offer) => {
      offers.push(offer.sdp);
      return `${ANSWER}a=recvonly\r\n`;
    });
    const sdpEvents: string[] = [];
    callee.on('sdp', (s) => sdpEvents.push(s));
    expect(await caller.reinvite(HOLD)).toBe(`${ANSWER}a=recvonly\r\n`);
    expect(offers).toEqual([HOLD]);
    expect(sdpEvents).toEqual([HOLD]);
    expect(caller.localSdp).toBe(HOLD);
    expect(callee.localSdp).toBe(`${ANSWER}a=recvonly\r\n`);
    // The callee re-INVITEs; the caller has no handler and answers with its current SDP.
    expect(await callee.reinvite(ANSWER)).toBe(HOLD);
    callee.onOffer(() => {
      throw new SipError('REJECTED', 'no', 488);
    });
    await expect(caller.reinvite(OFFER)).rejects.toMatchObject({ code: 'REJECTED', status: 488 });
    expect(caller.state).toBe(SessionState.Confirmed); // §14.1: a failed re-INVITE changes nothing
    await caller.bye();
  });

  it('answers an UPDATE offer through the offer handler (RFC 3311)', async () => {
    const p = await pair(protocol);
    const { caller, callee } = await connect(p);
    const methods: string[] = [];
    callee.onOffer((offer) => {
      methods.push(offer.method);
      return ANSWER;
    });
    const r = await caller.request('UPDATE', { body: HOLD });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(ANSWER);
    expect(methods).toEqual(['UPDATE']);
    expect(callee.remoteSdp).toBe(HOLD);
    expect(caller.localSdp).toBe(HOLD);
    expect(caller.remoteSdp).toBe(ANSWER);
    await caller.bye();
  });

  it('carries INFO and in-dialog OPTIONS', async () => {
    const p = await pair(protocol);
    const { caller, callee } = await connect(p);
    const info = once<SipRequest>(callee, 'info');
    const r = await caller.request('INFO', { body: 'Signal=5\r\nDuration=160\r\n', contentType: 'application/dtmf-relay' });
    expect(r.status).toBe(200);
    expect((await info).body.toString()).toContain('Signal=5');
    const options = await callee.request('OPTIONS');
    expect(getHeader(options, 'Allow')).toContain('INVITE');
    await callee.bye();
  });

  it('close() hangs up live sessions and leaves no timer running', async () => {
    const p = await pair(protocol);
    const { callee } = await connect(p);
    const bye = once(callee, 'bye');
    await p.a.close();
    await bye;
    await p.b.close();
    expect(p.clock.live.size).toBe(0);
    expect(p.a.size).toEqual({ dialogs: 0, calls: 0, clients: 0, servers: 0 });
    expect(() => dial(p)).toThrow(/closed/);
  });
});

describe('user agent reliability and edge cases (UDP)', () => {
  it('retransmits the 2xx until the ACK when the first ACK is lost (§13.3.1.4)', async () => {
    const p = await pair('UDP');
    const send = p.ta.sendRequest.bind(p.ta);
    let acks = 0;
    p.ta.sendRequest = async (req, dest) => {
      if (req.method === 'ACK' && acks++ === 0) return; // lose the first ACK on the wire
      return send(req, dest);
    };
    const respond = p.tb.sendResponse.bind(p.tb);
    let oks = 0;
    p.tb.sendResponse = async (res, ctx) => {
      if (res.status === 200 && getHeader(res, 'CSeq')?.endsWith('INVITE')) oks++;
      return respond(res, ctx);
    };
    const { caller, callee } = await connect(p);
    expect(oks).toBeGreaterThanOrEqual(2);
    expect(acks).toBeGreaterThanOrEqual(2);
    expect(callee.state).toBe(SessionState.Confirmed);
    await caller.bye();
  });

  it('BYEs the dialog when no ACK comes within 64*T1 (§13.3.1.4)', async () => {
    const p = await pair('UDP', { timers: { t1: 20 } });
    const send = p.ta.sendRequest.bind(p.ta);
    p.ta.sendRequest = async (req, dest) => (req.method === 'ACK' ? undefined : send(req, dest));
    const incoming = nextCall(p.b);
    const call = dial(p);
    const sc = await incoming;
    const accepted = sc.accept(ANSWER);
    const caller = await call.result();
    const bye = once<SipRequest>(caller, 'bye');
    await expect(accepted).rejects.toMatchObject({ code: 'ACK_TIMEOUT' });
    await bye;
    expect(caller.reason).toBe('remote-bye');
    expect(sc.state).toBe(ServerCallState.Failed);
  });

  it('leaves no timer, transaction, dialog or call behind once a call ended (without close)', async () => {
    const p = await pair('UDP', { timers: { t1: 10, t4: 50 } });
    const { caller, callee } = await connect(p);
    await caller.reinvite(HOLD);
    await callee.request('INFO', { body: 'x', contentType: 'text/plain' });
    await caller.bye();
    // Timers J, L and M (64*T1 = 640 ms) and K (T4) run out; poll so a loaded machine is not flaky.
    for (const deadline = Date.now() + 5000; p.clock.live.size > 0 && Date.now() < deadline; ) await wait(50);
    expect(p.clock.live.size).toBe(0);
    expect(p.a.size).toEqual({ dialogs: 0, calls: 0, clients: 0, servers: 0 });
    expect(p.b.size).toEqual({ dialogs: 0, calls: 0, clients: 0, servers: 0 });
    for (const s of [caller, callee]) expect(s.listenerCount('terminated')).toBe(0);
  });

  it('fails accept() when the caller hangs up before its ACK arrives (§15.1.2)', async () => {
    const p = await pair('UDP');
    const send = p.ta.sendRequest.bind(p.ta);
    p.ta.sendRequest = async (req, dest) => (req.method === 'ACK' ? undefined : send(req, dest));
    const incoming = nextCall(p.b);
    const call = dial(p);
    const sc = await incoming;
    const accepted = sc.accept(ANSWER).catch((e: unknown) => e);
    const caller = await call.result();
    await caller.bye();
    expect(await accepted).toMatchObject({ code: 'TERMINATED' });
    expect(sc.state).toBe(ServerCallState.Failed);
    expect(p.b.size.dialogs).toBe(0);
  });

  it('resolves re-INVITE glare (491) with the §14.1 back-off', async () => {
    const p = await pair('UDP', { random: () => 0 });
    const { caller, callee } = await connect(p);
    const started = Date.now();
    const [a, b] = await Promise.all([caller.reinvite(HOLD), callee.reinvite(ANSWER)]);
    // The Call-ID owner (caller) waits 2.1 s, the other side 0 s: the callee's retry goes through
    // first (the caller, without a handler, answers with its current SDP), then the caller's.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(b).toBe(OFFER);
    expect(a).toBe(ANSWER);
    expect(caller.localSdp).toBe(HOLD);
    expect(callee.localSdp).toBe(ANSWER);
    await caller.bye();
  });

  it('answers §8.2 checks: OPTIONS 200, 405, 416, 420, 481, 483, 415, CANCEL 481', async () => {
    const p = await pair('UDP');
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => peer.close(() => r())));
    // Replies by Call-ID: unanswered failure responses to INVITEs are retransmitted (Timer G).
    const waiters = new Map<string, (r: SipResponse) => void>();
    peer.on('message', (m) => {
      const reply = parseMessage(m) as SipResponse;
      const callId = getHeader(reply, 'Call-ID') ?? '';
      waiters.get(callId)?.(reply);
      waiters.delete(callId);
    });
    let n = 0;
    const ask = async (method: string, opts: { uri?: string; headers?: string[]; toTag?: string; body?: string; maxForwards?: number } = {}) => {
      const body = opts.body ?? '';
      const callId = `val-${++n}`;
      const text = [
        `${method} ${opts.uri ?? 'sip:b@127.0.0.1'} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${peer.address().port};branch=z9hG4bKval${n};rport`,
        `Max-Forwards: ${opts.maxForwards ?? 70}`,
        'From: <sip:peer@127.0.0.1>;tag=p1',
        `To: <sip:b@127.0.0.1>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
        `Call-ID: ${callId}`,
        `CSeq: 1 ${method}`,
        'Contact: <sip:peer@127.0.0.1>',
        ...(opts.headers ?? []),
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        body,
      ].join('\r\n');
      const got = new Promise<SipResponse>((r) => waiters.set(callId, r));
      peer.send(text, p.tb.local.port, '127.0.0.1');
      return got;
    };
    p.b.onInvite(() => undefined);
    const options = await ask('OPTIONS');
    expect(options.status).toBe(200);
    expect(getHeader(options, 'Allow')).toBe('INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO');
    expect(getHeader(options, 'Accept')).toBe('application/sdp');
    expect(getHeader(options, 'To')).toMatch(/;tag=/);
    const subscribe = await ask('SUBSCRIBE');
    expect(subscribe.status).toBe(405);
    expect(getHeader(subscribe, 'Allow')).toContain('BYE');
    expect((await ask('OPTIONS', { uri: 'http://example.com/x' })).status).toBe(416);
    const require = await ask('OPTIONS', { headers: ['Require: 100rel, timer'] });
    expect(require.status).toBe(420);
    expect(getHeader(require, 'Unsupported')).toBe('100rel, timer');
    expect((await ask('BYE', { toTag: 'nosuch' })).status).toBe(481);
    expect((await ask('BYE')).status).toBe(481);
    expect((await ask('OPTIONS', { maxForwards: 0 })).status).toBe(483);
    const plain = await ask('INVITE', { headers: ['Content-Type: text/plain'], body: 'hello' });
    expect(plain.status).toBe(415);
    expect(getHeader(plain, 'Accept')).toBe('application/sdp');
    expect((await ask('CANCEL')).status).toBe(481);
    expect((await ask('INVITE', { headers: ['Content-Type: application/sdp'], body: OFFER })).status).toBe(100);
  });

  it('ignores an untrusted peer and survives garbage from a trusted one', async () => {
    const udp = async (): Promise<dgram.Socket> => {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
      cleanup.push(() => new Promise<void>((r) => s.close(() => r())));
      return s;
    };
    const stranger = await udp();
    const trustedRaw = await udp();
    const ta = await SipTransport.listen({ host: '127.0.0.1', port: 0 });
    const tb = await SipTransport.listen({
      host: '127.0.0.1',
      port: 0,
      trustedPeers: [`127.0.0.1:${ta.local.port}`, `127.0.0.1:${trustedRaw.address().port}`],
    });
    const a = new UserAgent({ transport: ta, outboundProxy: { host: '127.0.0.1', port: tb.local.port, protocol: 'UDP' } });
    const b = new UserAgent({ transport: tb, outboundProxy: { host: '127.0.0.1', port: ta.local.port, protocol: 'UDP' } });
    cleanup.push(() => a.close(), () => b.close());
    let invites = 0;
    b.onInvite((sc) => {
      invites++;
      void sc.accept(ANSWER);
    });
    const answers: Buffer[] = [];
    stranger.on('message', (m) => answers.push(m));
    trustedRaw.on('message', (m) => answers.push(m));
    stranger.send(
      `OPTIONS sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${stranger.address().port};branch=z9hG4bKx\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: s1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
      tb.local.port,
      '127.0.0.1',
    );
    for (const garbage of [Buffer.from([0, 1, 2, 0xff]), Buffer.from('INVITE\r\n\r\n'), Buffer.from('SIP/2.0 200 OK\r\nCSeq: x\r\n\r\n')]) {
      trustedRaw.send(garbage, tb.local.port, '127.0.0.1');
    }
    await wait(100);
    expect(answers).toEqual([]);
    expect(tb.stats.untrusted).toBe(1);
    expect(tb.stats.parseErrors).toBe(3);
    const session = await a
      .invite({ requestUri: `sip:1@127.0.0.1:${tb.local.port}`, from: '<sip:a@127.0.0.1>', to: '<sip:1@127.0.0.1>', sdp: OFFER })
      .result();
    expect(invites).toBe(1);
    await session.bye();
  });

  it('ACKs and BYEs a 2xx that crosses a CANCEL', async () => {
    const p = await pair('UDP');
    const incoming = nextCall(p.b);
    const call = dial(p);
    const sc = await incoming;
    sc.progress(180);
    await once(call, 'progress');
    // Answer first, then cancel before the 2xx arrives: the CANCEL finds a completed INVITE.
    const accepted = sc.accept(ANSWER).catch((e: unknown) => e);
    call.cancel();
    await expect(call.result()).rejects.toMatchObject({ code: 'CANCELLED' });
    const callee = (await accepted) as Session;
    expect(callee).not.toBeInstanceOf(Error);
    if (callee.state !== SessionState.Terminated) await once(callee, 'terminated');
    expect(callee.reason).toBe('remote-bye');
  });

  it('copies Record-Route into dialog-creating responses and routes its BYE by it (§12.1.1, §12.2.1.1)', async () => {
    const peer = await rawPeer();
    const transport = await SipTransport.listen({ host: '127.0.0.1', port: 0, trustedPeers: ['127.0.0.1'] });
    const ua = new UserAgent({ transport, outboundProxy: { host: '127.0.0.1', port: peer.port, protocol: 'UDP' } });
    cleanup.push(() => ua.close());
    const sessions: Promise<Session>[] = [];
    ua.onInvite((sc) => {
      sc.progress(180);
      sessions.push(sc.accept(ANSWER));
    });
    const rr = ['<sip:127.0.0.1:5999;lr;ftag=p1>', '<sip:10.0.0.5;lr;r2=on>'];
    const head = (method: string, cseq: string, to: string, branch: string): string[] => [
      `${method} sip:1001@127.0.0.1:${transport.local.port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${branch};rport`,
      'Max-Forwards: 70',
      'From: <sip:caller@127.0.0.1>;tag=p1',
      `To: ${to}`,
      'Call-ID: rr-1',
      `CSeq: ${cseq}`,
    ];
    const invite = [
      ...head('INVITE', '1 INVITE', '<sip:1001@127.0.0.1>', 'z9hG4bKrr1'),
      ...rr.map((r) => `Record-Route: ${r}`),
      `Contact: <sip:caller@127.0.0.1:${peer.port}>`,
      'Content-Type: application/sdp',
      `Content-Length: ${OFFER.length}`,
      '',
      OFFER,
    ].join('\r\n');
    peer.send(invite, transport.local.port);
    const ringing = (await peer.next(isStatus(180))) as SipResponse;
    const ok = (await peer.next(isStatus(200))) as SipResponse;
    for (const r of [ringing, ok]) expect(r.headers.filter((h) => h.name === 'Record-Route').map((h) => h.value)).toEqual(rr);
    const to = getHeader(ok, 'To')!;
    expect(to).toMatch(/;tag=/);
    peer.send([...head('ACK', '1 ACK', to, 'z9hG4bKrr2'), 'Content-Length: 0', '', ''].join('\r\n'), transport.local.port);
    const session = await sessions[0]!;
    const hungUp = session.bye();
    const bye = (await peer.next(isRequest('BYE'))) as SipRequest;
    expect(bye.uri).toBe(`sip:caller@127.0.0.1:${peer.port}`);
    expect(bye.headers.filter((h) => h.name === 'Route').map((h) => h.value)).toEqual(rr);
    peer.send(serializeMessage(buildResponse(bye, 200)), transport.local.port);
    await hungUp;
  });

  it('re-ACKs a retransmitted 2xx and ACKs + BYEs a second 2xx from another fork (§13.2.2.4)', async () => {
    const peer = await rawPeer();
    const transport = await SipTransport.listen({ host: '127.0.0.1', port: 0, trustedPeers: ['127.0.0.1'] });
    const ua = new UserAgent({ transport, outboundProxy: { host: '127.0.0.1', port: peer.port, protocol: 'UDP' } });
    cleanup.push(() => ua.close());
    const call = ua.invite({ requestUri: `sip:1001@127.0.0.1:${peer.port}`, from: '<sip:daemon@127.0.0.1>', to: '<sip:1001@127.0.0.1>', sdp: OFFER });
    const invite = (await peer.next(isRequest('INVITE'))) as SipRequest;
    const ok = (tag: string): Buffer => {
      const r = buildResponse(invite, 200, undefined, [{ name: 'Contact', value: `<sip:${tag}@127.0.0.1:${peer.port}>` }], tag);
      r.body = Buffer.from(ANSWER);
      r.headers.push({ name: 'Content-Type', value: 'application/sdp' });
      return serializeMessage(r);
    };
    peer.send(ok('first'), transport.local.port);
    const session = await call.result();
    expect(session.remoteSdp).toBe(ANSWER);
    const ack1 = (await peer.next(isRequest('ACK'))) as SipRequest;
    expect(ack1.uri).toBe(`sip:first@127.0.0.1:${peer.port}`);
    expect(getHeader(ack1, 'CSeq')).toBe(getHeader(invite, 'CSeq')?.replace('INVITE', 'ACK'));
    expect(getHeader(ack1, 'Via')).not.toBe(getHeader(invite, 'Via')); // a new transaction (§17.1.1.3)
    peer.send(ok('first'), transport.local.port); // our ACK "was lost"
    const ack2 = (await peer.next(isRequest('ACK'))) as SipRequest;
    expect(getHeader(ack2, 'Via')).toBe(getHeader(ack1, 'Via'));
    peer.send(ok('second'), transport.local.port);
    const ack3 = (await peer.next(isRequest('ACK'))) as SipRequest;
    expect(ack3.uri).toBe(`sip:second@127.0.0.1:${peer.port}`);
    const bye = (await peer.next(isRequest('BYE'))) as SipRequest;
    expect(getHeader(bye, 'To')).toMatch(/;tag=second$/);
    peer.send(serializeMessage(buildResponse(bye, 200)), transport.local.port);
    expect(session.state).toBe(SessionState.Confirmed);
    expect(peer.count(isRequest('BYE'))).toBe(1);
  });
});

describe('checkRequest (§8.2, stateless)', () => {
  const req = (first: string, extra: string[] = [], body = ''): SipRequest =>
    parseMessage(
      Buffer.from(
        [first, 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@h>;tag=1', 'To: <sip:b@h>', 'Call-ID: c', `CSeq: 1 ${first.split(' ')[0]}`, ...extra, `Content-Length: ${body.length}`, '', body].join('\r\n'),
      ),
    ) as SipRequest;

  it('passes plain requests and rejects in the RFC order', () => {
    expect(checkRequest(req('INVITE sip:b@h SIP/2.0'), [])).toBeUndefined();
    expect(checkRequest(req('OPTIONS tel:+15551234567 SIP/2.0'), [])).toBeUndefined();
    expect(checkRequest(req('SUBSCRIBE mailto:b@h SIP/2.0', ['Max-Forwards: 0']), [])?.status).toBe(483);
    expect(checkRequest(req('SUBSCRIBE mailto:b@h SIP/2.0'), [])?.status).toBe(405);
    expect(checkRequest(req('INVITE mailto:b@h SIP/2.0', ['Require: foo']), [])?.status).toBe(416);
    expect(checkRequest(req('INVITE sip:b@h SIP/2.0', ['Require: Timer, foo']), ['timer'])).toMatchObject({
      status: 420,
      headers: [{ name: 'Unsupported', value: 'foo' }],
    });
    expect(checkRequest(req('CANCEL sip:b@h SIP/2.0', ['Require: foo']), [])).toBeUndefined();
    expect(checkRequest(req('INVITE sip:b@h SIP/2.0', ['Content-Type: application/json'], '{}'), [])?.status).toBe(415);
    expect(checkRequest(req('INFO sip:b@h SIP/2.0', ['Content-Type: application/json'], '{}'), [])).toBeUndefined();
  });
});

/** A free UDP port on loopback, found by binding and releasing it. */
async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function runSipp(args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/sipp', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('interoperability with SIPp', () => {
  it('answers SIPp’s built-in UAC (INVITE/100/180/200/ACK/BYE/200)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipp-uac-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const sippPort = await freePort();
    const transport = await SipTransport.listen({ host: '127.0.0.1', port: 0, trustedPeers: [`127.0.0.1:${sippPort}`] });
    const ua = new UserAgent({ transport, outboundProxy: { host: '127.0.0.1', port: sippPort, protocol: 'UDP' } });
    cleanup.push(() => ua.close());
    const ended: string[] = [];
    ua.onInvite((sc) => {
      sc.progress(180);
      sc.accept(ANSWER).then(
        (s) => s.once('terminated', (reason) => ended.push(reason)),
        () => ended.push('failed'),
      );
    });
    const { code, output } = await runSipp(
      ['-sn', 'uac', '-i', '127.0.0.1', '-p', String(sippPort), '-m', '1', '-timeout', '20s', '-trace_err', '-s', '1001', `127.0.0.1:${transport.local.port}`],
      dir,
    );
    expect(code, output).toBe(0);
    expect(ended).toEqual(['remote-bye']);
  });

  it('calls SIPp’s built-in UAS and hangs up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipp-uas-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const sippPort = await freePort();
    const transport = await SipTransport.listen({ host: '127.0.0.1', port: 0, trustedPeers: [`127.0.0.1:${sippPort}`] });
    const ua = new UserAgent({ transport, outboundProxy: { host: '127.0.0.1', port: sippPort, protocol: 'UDP' } });
    cleanup.push(() => ua.close());
    const sipp = runSipp(['-sn', 'uas', '-i', '127.0.0.1', '-p', String(sippPort), '-m', '1', '-timeout', '20s', '-trace_err'], dir);
    await wait(500); // let SIPp bind
    const call = ua.invite({ requestUri: `sip:service@127.0.0.1:${sippPort}`, from: '<sip:daemon@127.0.0.1>', to: '<sip:service@127.0.0.1>', sdp: OFFER });
    const statuses: number[] = [];
    call.on('progress', (r) => statuses.push(r.status));
    const session = await call.result();
    expect(statuses).toContain(180);
    await session.bye();
    const { code, output } = await sipp;
    expect(code, output).toBe(0);
  });
});
