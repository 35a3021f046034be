/**
 * The daemon's in-dialog OPTIONS keepalive (src/daemon/keepalive.ts) on real Sessions: two
 * UserAgents over loopback UDP (each the other's outbound proxy, T1 = 50 ms so Timer F is 3.2 s).
 * A live peer answers 200 and the call stays up; a peer that forgot the dialog answers 481; a peer
 * that is gone answers nothing. Either way the prober's Session ends (`dialog-lost`, RFC 3261
 * §12.2.1.2) and the keepalive reports it dead.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startKeepalive, type KeepaliveResult } from '../../src/daemon/keepalive.js';
import { systemClock } from '../../src/sip/timers.js';
import { SipTransport } from '../../src/sip/transport.js';
import { SessionState, UserAgent, type ServerCall, type Session } from '../../src/sip/user-agent.js';

const OFFER = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n';
const ANSWER = OFFER.replace('40000', '40002').replace('o=- 1 1', 'o=- 2 2');

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});

/** A calls B; resolves with both ends of the confirmed dialog and B's transport. */
async function connectedPair(): Promise<{ caller: Session; callee: Session; tb: SipTransport }> {
  const ta = await SipTransport.listen({ host: '127.0.0.1', port: 0, trustedPeers: ['127.0.0.1'] });
  const tb = await SipTransport.listen({ host: '127.0.0.1', port: 0, trustedPeers: ['127.0.0.1'] });
  const common = { clock: systemClock, timers: { t1: 50 } };
  const a = new UserAgent({ transport: ta, outboundProxy: { host: '127.0.0.1', port: tb.local.port, protocol: 'UDP' }, contactUser: 'a', ...common });
  const b = new UserAgent({ transport: tb, outboundProxy: { host: '127.0.0.1', port: ta.local.port, protocol: 'UDP' }, contactUser: 'b', ...common });
  cleanup.push(() => a.close(), () => b.close());
  const incoming = new Promise<ServerCall>((resolve) => b.onInvite(resolve));
  const outgoing = a.invite({ requestUri: `sip:1001@127.0.0.1:${tb.local.port}`, from: '<sip:daemon@127.0.0.1>', to: '<sip:1001@127.0.0.1>', sdp: OFFER });
  const call = await incoming;
  const [callee, caller] = await Promise.all([call.accept(ANSWER), outgoing.result()]);
  return { caller, callee, tb };
}

function probe(session: Session, intervalMs: number) {
  const probes: [KeepaliveResult, number | undefined][] = [];
  let deadStatus: number | undefined | 'none' = 'none';
  const dead = new Promise<number | undefined>((resolve) => {
    const k = startKeepalive(session, { intervalMs, clock: systemClock, onProbe: (r, s) => probes.push([r, s]), onDead: (s) => resolve((deadStatus = s)) });
    cleanup.push(async () => k.stop());
  });
  return { probes, dead, deadStatus: () => deadStatus };
}

const ended = (s: Session) => new Promise<string>((resolve) => (s.state === SessionState.Terminated ? resolve(String(s.reason)) : s.once('terminated', (r) => resolve(r))));

describe('OPTIONS keepalive on real sessions (UDP loopback)', () => {
  it('a live peer answers 200 each time and the call stays up', async () => {
    const { caller, callee } = await connectedPair();
    const k = probe(caller, 100);
    await new Promise((r) => setTimeout(r, 450));
    expect(k.probes.length).toBeGreaterThanOrEqual(3);
    expect(k.probes.every(([r, s]) => r === 'alive' && s === 200)).toBe(true);
    expect(caller.state).toBe(SessionState.Confirmed);
    expect(callee.state).toBe(SessionState.Confirmed);
    expect(k.deadStatus()).toBe('none');
  });

  it('a peer that forgot the dialog answers 481: the session ends as dialog-lost', async () => {
    const { caller, callee } = await connectedPair();
    callee.end('closed'); // B drops the dialog without a BYE (a restarted phone)
    const k = probe(caller, 100);
    expect(await k.dead).toBe(481);
    expect(await ended(caller)).toBe('dialog-lost');
    expect(k.probes).toEqual([['dead', 481]]);
  });

  it('a peer that is gone answers nothing: the OPTIONS times out (Timer F) and the session ends', async () => {
    const { caller, tb } = await connectedPair();
    await tb.close(); // B's socket is gone: no response, ever
    const started = Date.now();
    const k = probe(caller, 100);
    await k.dead;
    expect(await ended(caller)).toBe('dialog-lost');
    expect(k.probes).toHaveLength(1);
    expect(k.probes[0]![0]).toBe('dead');
    // Timer F (64*T1 = 3.2 s), or sooner when the transport reports the port unreachable.
    expect(Date.now() - started).toBeLessThan(100 + 64 * 50 + 1000);
  }, 10_000);
});
