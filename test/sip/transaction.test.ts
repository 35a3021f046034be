/**
 * The four RFC 3261 §17 transaction machines and the matching table, on a ManualClock with a fake
 * channel: retransmission schedules (Timers A, E, G), timeouts (B, F, H), the "wait" timers
 * (D, I, J, K, and RFC 6026's L, M), absorption of retransmissions, ACK generation and matching,
 * reliable transports (no retransmissions, zero wait timers), transport errors, checked transitions.
 */
import { describe, expect, it } from 'vitest';
import type { SipMessage, SipRequest, SipResponse } from '../../src/sip/message.js';
import { parseMessage } from '../../src/sip/parse.js';
import { buildResponse } from '../../src/sip/serialize.js';
import { getHeader, getHeaders } from '../../src/sip/headers.js';
import { ManualClock, timerValues } from '../../src/sip/timers.js';
import { TransactionState, serverTransactionKey, type TransactionChannel } from '../../src/sip/transaction.js';
import { InviteClientTransaction, NonInviteClientTransaction, buildCancel } from '../../src/sip/transaction-client.js';
import { InviteServerTransaction, NonInviteServerTransaction } from '../../src/sip/transaction-server.js';
import { TransactionLayer } from '../../src/sip/transaction-layer.js';

const S = TransactionState;

class FakeChannel implements TransactionChannel {
  readonly sent: SipMessage[] = [];
  fail = false;
  constructor(readonly reliable = false) {}
  send(message: SipMessage): Promise<void> {
    this.sent.push(message);
    return this.fail ? Promise.reject(new Error('EHOSTUNREACH')) : Promise.resolve();
  }
  /** Send times are not recorded by the channel; tests read counts at known instants. */
  get count(): number {
    return this.sent.length;
  }
}

function request(method: string, options: { branch?: string; sentBy?: string; cseq?: number; toTag?: string; cseqMethod?: string } = {}): SipRequest {
  const { branch = 'z9hG4bKbranch1', sentBy = '10.0.0.1:5060', cseq = 1, toTag } = options;
  const text = [
    `${method} sip:bob@example.com SIP/2.0`,
    `Via: SIP/2.0/UDP ${sentBy};branch=${branch}`,
    'Route: <sip:p1.example.com;lr>',
    'Route: <sip:p2.example.com;lr>',
    'Max-Forwards: 70',
    'From: "Alice" <sip:alice@example.com>;tag=from1',
    `To: <sip:bob@example.com>${toTag ? `;tag=${toTag}` : ''}`,
    'Call-ID: call-1@example.com',
    `CSeq: ${cseq} ${options.cseqMethod ?? method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return parseMessage(Buffer.from(text)) as SipRequest;
}

function response(req: SipRequest, status: number, toTag = 'to1'): SipResponse {
  return buildResponse(req, status, undefined, [], status === 100 ? undefined : toTag);
}

/** Advances the clock to absolute time `t` (ms). */
function at(clock: ManualClock, t: number): void {
  clock.advance(t - clock.now());
}

describe('timers', () => {
  it('derives Table 4 values, zeroing the wait timers on reliable transports', () => {
    expect(timerValues()).toMatchObject({ t1: 500, t2: 4000, t4: 5000, A: 500, B: 32_000, D: 32_000, E: 500, F: 32_000, G: 500, H: 32_000, I: 5000, J: 32_000, K: 5000, L: 32_000, M: 32_000 });
    expect(timerValues({}, true)).toMatchObject({ D: 0, I: 0, J: 0, K: 0, B: 32_000, H: 32_000 });
    expect(timerValues({ t1: 100 }).B).toBe(6400);
    expect(() => timerValues({ t1: 0 })).toThrow(/positive/);
    expect(() => timerValues({ t1: 5000, t2: 4000 })).toThrow(/T2/);
  });
});

describe('INVITE client transaction (§17.1.1)', () => {
  function start(reliable = false) {
    const clock = new ManualClock();
    const channel = new FakeChannel(reliable);
    const req = request('INVITE');
    const tx = new InviteClientTransaction(req, { channel, clock });
    const events: string[] = [];
    const responses: SipResponse[] = [];
    tx.on('response', (r) => responses.push(r));
    tx.on('timeout', () => events.push('timeout'));
    tx.on('terminated', (reason) => events.push(`terminated:${reason}`));
    tx.start();
    return { clock, channel, req, tx, events, responses };
  }

  it('retransmits with Timer A doubling (0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s) and times out with Timer B at 32 s', () => {
    const { clock, channel, tx, events } = start();
    expect(channel.count).toBe(1);
    const expected: [number, number][] = [[499, 1], [500, 2], [1499, 2], [1500, 3], [3500, 4], [7500, 5], [15_500, 6], [31_500, 7]];
    for (const [t, count] of expected) {
      at(clock, t);
      expect(channel.count, `at ${t} ms`).toBe(count);
    }
    expect(tx.state).toBe(S.Calling);
    at(clock, 32_000);
    expect(events).toEqual(['timeout', 'terminated:timeout']);
    expect(tx.state).toBe(S.Terminated);
    expect(clock.pending).toBe(0);
  });

  it('never retransmits over a reliable transport, but Timer B still applies', () => {
    const { clock, channel, events } = start(true);
    at(clock, 31_999);
    expect(channel.count).toBe(1);
    at(clock, 32_000);
    expect(events).toEqual(['timeout', 'terminated:timeout']);
  });

  it('stops retransmitting on a provisional and has no timeout in Proceeding (the TU decides)', () => {
    const { clock, channel, req, tx, responses, events } = start();
    at(clock, 200);
    tx.receiveResponse(response(req, 180));
    expect(tx.state).toBe(S.Proceeding);
    at(clock, 120_000);
    expect(channel.count).toBe(1);
    expect(events).toEqual([]);
    tx.receiveResponse(response(req, 183));
    expect(responses.map((r) => r.status)).toEqual([180, 183]);
    expect(clock.pending).toBe(0);
  });

  it('ACKs a non-2xx itself (§17.1.1.3), passes it up once, re-ACKs retransmissions, ends after Timer D', () => {
    const { clock, channel, req, tx, responses, events } = start();
    tx.receiveResponse(response(req, 100));
    const busy = response(req, 486);
    tx.receiveResponse(busy);
    expect(tx.state).toBe(S.Completed);
    const ack = channel.sent[1] as SipRequest;
    expect(ack.kind).toBe('request');
    expect(ack.method).toBe('ACK');
    expect(ack.uri).toBe(req.uri);
    expect(getHeaders(ack, 'Via')).toEqual(getHeaders(req, 'Via'));
    expect(getHeader(ack, 'To')).toBe('<sip:bob@example.com>;tag=to1');
    expect(getHeader(ack, 'From')).toBe(getHeader(req, 'From'));
    expect(getHeader(ack, 'CSeq')).toBe('1 ACK');
    expect(getHeaders(ack, 'Route')).toEqual(['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
    expect(tx.nonSuccessAck).toBe(ack);
    tx.receiveResponse(busy);
    expect(channel.sent[2]).toBe(ack);
    expect(responses.map((r) => r.status)).toEqual([100, 486]);
    at(clock, 31_999);
    expect(tx.state).toBe(S.Completed);
    at(clock, 32_000);
    expect(events).toEqual(['terminated:normal']);
  });

  it('terminates at once after a non-2xx over a reliable transport (Timer D = 0)', () => {
    const { req, tx, events, channel } = start(true);
    tx.receiveResponse(response(req, 404));
    expect(channel.sent.map((m) => (m.kind === 'request' ? m.method : m.status))).toEqual(['INVITE', 'ACK']);
    expect(events).toEqual(['terminated:normal']);
  });

  it('passes every 2xx up in Accepted (RFC 6026) without ACKing, and ends after Timer M', () => {
    const { clock, channel, req, tx, responses, events } = start();
    at(clock, 700);
    const ok = response(req, 200);
    tx.receiveResponse(ok);
    expect(tx.state).toBe(S.Accepted);
    tx.receiveResponse(ok);
    tx.receiveResponse(response(req, 200, 'fork2'));
    tx.receiveResponse(response(req, 486)); // late failure: ignored
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(channel.count).toBe(2); // INVITE + one Timer A retransmission before the 2xx, never an ACK
    at(clock, 700 + 31_999);
    expect(tx.state).toBe(S.Accepted);
    at(clock, 700 + 32_000);
    expect(events).toEqual(['terminated:normal']);
    expect(clock.pending).toBe(0);
  });

  it('reports a transport error and terminates', async () => {
    const clock = new ManualClock();
    const channel = new FakeChannel();
    channel.fail = true;
    const tx = new InviteClientTransaction(request('INVITE'), { channel, clock });
    const errors: Error[] = [];
    tx.on('transportError', (e) => errors.push(e));
    tx.start();
    await new Promise((r) => setImmediate(r));
    expect(errors[0]?.message).toBe('EHOSTUNREACH');
    expect(tx.state).toBe(S.Terminated);
    expect(tx.reason).toBe('transport-error');
    expect(clock.pending).toBe(0);
  });

  it('rejects illegal transitions as bugs and non-INVITE requests', () => {
    const { tx } = start();
    expect(() => (tx as unknown as { transition(s: TransactionState): void }).transition(S.Confirmed)).toThrow(/illegal transition Calling -> Confirmed/);
    expect(() => new InviteClientTransaction(request('BYE'), { channel: new FakeChannel(), clock: new ManualClock() })).toThrow();
  });

  it('abort() stops everything once', () => {
    const { clock, tx, events } = start();
    tx.abort();
    tx.abort();
    expect(events).toEqual(['terminated:aborted']);
    expect(clock.pending).toBe(0);
  });

  it('builds a CANCEL with the INVITE top Via, Route set and CSeq number (§9.1)', () => {
    const req = request('INVITE');
    const cancel = buildCancel(req, 'SIP;cause=408');
    expect(cancel.method).toBe('CANCEL');
    expect(cancel.uri).toBe(req.uri);
    expect(getHeaders(cancel, 'Via')).toEqual(getHeaders(req, 'Via'));
    expect(getHeader(cancel, 'To')).toBe(getHeader(req, 'To'));
    expect(getHeader(cancel, 'CSeq')).toBe('1 CANCEL');
    expect(getHeader(cancel, 'Reason')).toBe('SIP;cause=408');
    expect(getHeaders(cancel, 'Route')).toHaveLength(2);
  });
});

describe('non-INVITE client transaction (§17.1.2)', () => {
  function start(reliable = false) {
    const clock = new ManualClock();
    const channel = new FakeChannel(reliable);
    const req = request('OPTIONS');
    const tx = new NonInviteClientTransaction(req, { channel, clock });
    const events: string[] = [];
    const responses: number[] = [];
    tx.on('response', (r) => responses.push(r.status));
    tx.on('timeout', () => events.push('timeout'));
    tx.on('terminated', (reason) => events.push(`terminated:${reason}`));
    tx.start();
    return { clock, channel, req, tx, events, responses };
  }

  it('retransmits with Timer E doubling up to T2 and times out with Timer F at 64*T1', () => {
    const { clock, channel, events } = start();
    // sends at 0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5 s
    const expected: [number, number][] = [[500, 2], [1500, 3], [3500, 4], [7499, 4], [7500, 5], [11_500, 6], [31_500, 11]];
    for (const [t, count] of expected) {
      at(clock, t);
      expect(channel.count, `at ${t} ms`).toBe(count);
    }
    at(clock, 32_000);
    expect(events).toEqual(['timeout', 'terminated:timeout']);
    expect(clock.pending).toBe(0);
  });

  it('retransmits every T2 once a provisional arrived (Proceeding)', () => {
    const { clock, channel, req, tx, responses } = start();
    at(clock, 600); // sends at 0 and 0.5 s; Timer E next at 1.5 s
    tx.receiveResponse(response(req, 100));
    expect(tx.state).toBe(S.Proceeding);
    at(clock, 1500);
    expect(channel.count).toBe(3);
    at(clock, 5499);
    expect(channel.count).toBe(3);
    at(clock, 5500);
    expect(channel.count).toBe(4);
    at(clock, 9500);
    expect(channel.count).toBe(5);
    expect(responses).toEqual([100]);
  });

  it('passes the final response up once, absorbs retransmissions for Timer K (T4), then ends', () => {
    const { clock, req, tx, responses, events, channel } = start();
    tx.receiveResponse(response(req, 200));
    tx.receiveResponse(response(req, 200));
    tx.receiveResponse(response(req, 180));
    expect(responses).toEqual([200]);
    expect(tx.state).toBe(S.Completed);
    at(clock, 4999);
    expect(tx.state).toBe(S.Completed);
    expect(channel.count).toBe(1);
    at(clock, 5000);
    expect(events).toEqual(['terminated:normal']);
  });

  it('over TCP: no retransmissions, Timer K = 0', () => {
    const { clock, req, tx, events, channel } = start(true);
    at(clock, 10_000);
    expect(channel.count).toBe(1);
    tx.receiveResponse(response(req, 404));
    expect(events).toEqual(['terminated:normal']);
  });

  it('refuses INVITE and ACK', () => {
    const opts = { channel: new FakeChannel(), clock: new ManualClock() };
    expect(() => new NonInviteClientTransaction(request('INVITE'), opts)).toThrow();
    expect(() => new NonInviteClientTransaction(request('ACK'), opts)).toThrow();
  });
});

describe('INVITE server transaction (§17.2.1)', () => {
  function start(reliable = false) {
    const clock = new ManualClock();
    const channel = new FakeChannel(reliable);
    const req = request('INVITE');
    const tx = new InviteServerTransaction(req, { channel, clock });
    const events: string[] = [];
    tx.on('timeout', () => events.push('timeout'));
    tx.on('terminated', (reason) => events.push(`terminated:${reason}`));
    tx.start();
    const statuses = (): number[] => channel.sent.map((m) => (m.kind === 'response' ? m.status : 0));
    return { clock, channel, req, tx, events, statuses };
  }

  it('sends 100 Trying after 200 ms when the TU is silent, without a To tag', () => {
    const { clock, channel, statuses } = start();
    at(clock, 199);
    expect(statuses()).toEqual([]);
    at(clock, 200);
    expect(statuses()).toEqual([100]);
    expect(getHeader(channel.sent[0]!, 'To')).toBe('<sip:bob@example.com>');
  });

  it('sends no 100 when the TU answered within 200 ms, and answers retransmissions with the latest provisional', () => {
    const { clock, req, tx, statuses } = start();
    at(clock, 50);
    tx.respond(response(req, 180));
    at(clock, 1000);
    tx.receiveRequest(req);
    expect(statuses()).toEqual([180, 180]);
  });

  it('absorbs a retransmitted INVITE before any response', () => {
    const { req, tx, statuses } = start();
    tx.receiveRequest(req);
    expect(statuses()).toEqual([]);
  });

  it('retransmits a non-2xx final with Timer G (T1 doubling to T2) and fails with Timer H at 64*T1', () => {
    const { clock, req, tx, events, channel } = start();
    tx.respond(response(req, 486));
    expect(tx.state).toBe(S.Completed);
    // sends at 0, 0.5, 1.5, 3.5, 7.5, 11.5 ... 31.5 s
    const expected: [number, number][] = [[500, 2], [1500, 3], [3500, 4], [7500, 5], [11_500, 6], [31_500, 11]];
    for (const [t, count] of expected) {
      at(clock, t);
      expect(channel.count, `at ${t} ms`).toBe(count);
    }
    tx.receiveRequest(req); // a retransmitted INVITE gets the final response again
    expect(channel.count).toBe(12);
    at(clock, 32_000);
    expect(events).toEqual(['timeout', 'terminated:timeout']);
    expect(clock.pending).toBe(0);
  });

  it('stops Timer G on the ACK, absorbs ACK retransmissions for Timer I (T4), then ends', () => {
    const { clock, req, tx, events, channel } = start();
    tx.respond(response(req, 603));
    at(clock, 700);
    expect(tx.receiveAck(request('ACK', { toTag: 'to1' }))).toBe(true);
    expect(tx.state).toBe(S.Confirmed);
    expect(tx.receiveAck(request('ACK', { toTag: 'to1' }))).toBe(true);
    const sent = channel.count;
    at(clock, 5699);
    expect(channel.count).toBe(sent);
    expect(tx.state).toBe(S.Confirmed);
    at(clock, 5700);
    expect(events).toEqual(['terminated:normal']);
  });

  it('over TCP: no Timer G, and Timer I = 0', () => {
    const { clock, req, tx, events, channel } = start(true);
    tx.respond(response(req, 480));
    at(clock, 20_000);
    expect(channel.count).toBe(1);
    tx.receiveAck(request('ACK', { toTag: 'to1' }));
    expect(events).toEqual(['terminated:normal']);
  });

  it('in Accepted (RFC 6026) passes 2xx retransmissions from the TU, absorbs INVITEs, leaves the ACK to the TU, ends after Timer L', () => {
    const { clock, req, tx, events, statuses } = start();
    const ok = response(req, 200);
    tx.respond(ok);
    expect(tx.state).toBe(S.Accepted);
    tx.respond(ok);
    tx.receiveRequest(req);
    expect(statuses()).toEqual([200, 200]);
    expect(tx.receiveAck(request('ACK', { branch: 'z9hG4bKother', toTag: 'to1' }))).toBe(false);
    expect(() => tx.respond(response(req, 500))).toThrow(/cannot send 500 in Accepted/);
    at(clock, 32_000);
    expect(events).toEqual(['terminated:normal']);
    expect(tx.respond(ok)).toBe(false);
  });

  it('throws on a second final response (a TU bug)', () => {
    const { req, tx } = start();
    tx.respond(response(req, 486));
    expect(() => tx.respond(response(req, 200))).toThrow(/cannot send 200 in Completed/);
    expect(() => tx.respond(response(req, 180))).toThrow();
  });
});

describe('non-INVITE server transaction (§17.2.2)', () => {
  function start(reliable = false) {
    const clock = new ManualClock();
    const channel = new FakeChannel(reliable);
    const req = request('BYE', { toTag: 'to1' });
    const tx = new NonInviteServerTransaction(req, { channel, clock });
    const events: string[] = [];
    tx.on('terminated', (reason) => events.push(`terminated:${reason}`));
    const statuses = (): number[] => channel.sent.map((m) => (m.kind === 'response' ? m.status : 0));
    return { clock, channel, req, tx, events, statuses };
  }

  it('absorbs retransmissions in Trying, repeats the provisional in Proceeding and the final in Completed', () => {
    const { req, tx, statuses } = start();
    tx.receiveRequest(req);
    expect(statuses()).toEqual([]);
    tx.respond(response(req, 100));
    expect(tx.state).toBe(S.Proceeding);
    tx.receiveRequest(req);
    tx.respond(response(req, 200));
    tx.receiveRequest(req);
    expect(statuses()).toEqual([100, 100, 200, 200]);
  });

  it('lingers for Timer J (64*T1) over UDP and ends at once over TCP', () => {
    const udp = start();
    udp.tx.respond(response(udp.req, 200));
    at(udp.clock, 31_999);
    expect(udp.tx.state).toBe(S.Completed);
    at(udp.clock, 32_000);
    expect(udp.events).toEqual(['terminated:normal']);
    const tcp = start(true);
    tcp.tx.respond(response(tcp.req, 200));
    expect(tcp.events).toEqual(['terminated:normal']);
  });

  it('throws on a response after the final', () => {
    const { req, tx } = start();
    tx.respond(response(req, 200));
    expect(() => tx.respond(response(req, 200))).toThrow(/after a final response/);
  });
});

describe('transaction matching (§17.1.3, §17.2.3)', () => {
  function layer() {
    const clock = new ManualClock();
    return { clock, layer: new TransactionLayer({ clock }), channel: new FakeChannel() };
  }

  it('matches retransmissions by branch + sent-by + method; a different sent-by is a new transaction', () => {
    const { layer: l, channel } = layer();
    const first = l.receiveRequest(request('INVITE'), channel);
    expect(first.type).toBe('new');
    expect(l.receiveRequest(request('INVITE'), channel).type).toBe('absorbed');
    expect(l.receiveRequest(request('INVITE', { sentBy: '10.0.0.2:5060' }), channel).type).toBe('new');
    expect(l.receiveRequest(request('OPTIONS'), channel).type).toBe('new'); // same branch, other method
    expect(l.size.servers).toBe(3);
  });

  it('gives the ACK for a non-2xx to the INVITE transaction and the ACK for a 2xx to the TU', () => {
    const { layer: l, channel } = layer();
    const first = l.receiveRequest(request('INVITE'), channel);
    if (first.type !== 'new') throw new Error('expected new');
    const tx = first.transaction as InviteServerTransaction;
    tx.respond(response(tx.request, 486));
    expect(l.receiveRequest(request('ACK', { toTag: 'to1' }), channel).type).toBe('absorbed');
    expect(tx.state).toBe(S.Confirmed);

    const second = l.receiveRequest(request('INVITE', { branch: 'z9hG4bKsecond' }), channel);
    if (second.type !== 'new') throw new Error('expected new');
    (second.transaction as InviteServerTransaction).respond(response(second.transaction.request, 200));
    expect(l.receiveRequest(request('ACK', { branch: 'z9hG4bKack', toTag: 'to1' }), channel).type).toBe('ack');
    expect(l.receiveRequest(request('ACK', { branch: 'z9hG4bKsecond', toTag: 'to1' }), channel).type).toBe('ack');
  });

  it('finds the INVITE a CANCEL targets (§9.2), not one from another sent-by', () => {
    const { layer: l, channel } = layer();
    const invite = l.receiveRequest(request('INVITE'), channel);
    const cancel = request('CANCEL');
    expect(l.receiveRequest(cancel, channel).type).toBe('new');
    expect(l.findInviteForCancel(cancel)).toBe(invite.type === 'new' ? invite.transaction : undefined);
    expect(l.findInviteForCancel(request('CANCEL', { sentBy: '10.9.9.9:5060' }))).toBeUndefined();
  });

  it('falls back to RFC 2543 matching without the magic cookie', () => {
    const old = request('INVITE', { branch: 'oldstyle1' });
    expect(serverTransactionKey(old)).toMatch(/^s2543 /);
    const { layer: l, channel } = layer();
    expect(l.receiveRequest(old, channel).type).toBe('new');
    expect(l.receiveRequest(request('INVITE', { branch: 'oldstyle1' }), channel).type).toBe('absorbed');
  });

  it('routes responses by branch + CSeq method: the CANCEL response never reaches the INVITE', () => {
    const { layer: l, clock } = layer();
    const invite = request('INVITE', { branch: 'z9hG4bKc1' });
    const inviteTx = l.createClient(invite, new FakeChannel());
    const cancelTx = l.createClient(buildCancel(invite), new FakeChannel());
    const got: string[] = [];
    inviteTx.on('response', (r) => got.push(`invite:${r.status}`));
    cancelTx.on('response', (r) => got.push(`cancel:${r.status}`));
    inviteTx.start();
    cancelTx.start();
    expect(l.receiveResponse(response(buildCancel(invite), 200))).toBe(true);
    expect(l.receiveResponse(response(invite, 487))).toBe(true);
    expect(l.receiveResponse(response(request('INVITE', { branch: 'z9hG4bKnone' }), 200))).toBe(false);
    expect(got).toEqual(['cancel:200', 'invite:487']);
    expect(() => l.createClient(invite, new FakeChannel())).toThrow(/already exists/);
    clock.advance(40_000);
    expect(l.size).toEqual({ clients: 0, servers: 0 });
  });

  it('forgets terminated transactions and aborts the rest on close()', () => {
    const { layer: l, channel, clock } = layer();
    l.receiveRequest(request('INVITE'), channel);
    l.receiveRequest(request('OPTIONS', { branch: 'z9hG4bKo' }), channel);
    l.createClient(request('INVITE', { branch: 'z9hG4bKc' }), channel).start();
    expect(l.size).toEqual({ clients: 1, servers: 2 });
    l.close();
    expect(l.size).toEqual({ clients: 0, servers: 0 });
    expect(clock.pending).toBe(0);
  });

  it('reports requests that cannot be matched', () => {
    const { layer: l, channel } = layer();
    const bad = request('OPTIONS');
    bad.headers = bad.headers.filter((h) => h.name !== 'Via');
    expect(l.receiveRequest(bad, channel).type).toBe('invalid');
  });
});
