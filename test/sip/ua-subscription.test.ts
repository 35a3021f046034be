/**
 * The RFC 6665 notifier (src/sip/ua-subscription.ts): first against a fake UA core on a
 * ManualClock (the state machine: accept → 200 + NOTIFY active, refresh, un-SUBSCRIBE, expiry,
 * fetch, one NOTIFY at a time, 481/timeout removal, checks 400/423/406/489), then over loopback
 * UDP with a real UserAgent as notifier and a hand-driven subscriber.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import { parseMessage } from '../../src/sip/parse.js';
import { buildResponse } from '../../src/sip/serialize.js';
import { getHeader } from '../../src/sip/headers.js';
import { ManualClock, timerValues } from '../../src/sip/timers.js';
import { SipTransport, silentLogger } from '../../src/sip/transport.js';
import type { ClientTransaction } from '../../src/sip/transaction-client.js';
import type { NonInviteServerTransaction } from '../../src/sip/transaction-server.js';
import type { DialogUsage, ResponseOptions, UaCore } from '../../src/sip/ua-core.js';
import type { ServerSubscription} from '../../src/sip/ua-subscription.js';
import { EventPackages, SubscriptionState, type EventPackageOptions } from '../../src/sip/ua-subscription.js';
import { UserAgent } from '../../src/sip/user-agent.js';

const OPTIONS: EventPackageOptions = { defaultExpires: 3600, minExpires: 60, maxExpires: 7200, contentType: 'application/simple-message-summary' };
const BODY = { body: 'Messages-Waiting: no\r\n', contentType: OPTIONS.contentType };
const BODY2 = { body: 'Messages-Waiting: yes\r\n', contentType: OPTIONS.contentType };

/** A UaCore that records what it would send; client transactions are emitters the test drives. */
class FakeCore implements UaCore {
  readonly clock = new ManualClock();
  readonly logger = silentLogger;
  readonly timers = timerValues({}, false);
  readonly contact = '<sip:daemon@127.0.0.1:5063>';
  readonly sent: { request: SipRequest; tx: EventEmitter }[] = [];
  readonly dialogs = new Map<string, DialogUsage>();
  sendRequest(request: SipRequest): ClientTransaction {
    const tx = new EventEmitter();
    this.sent.push({ request, tx });
    return tx as unknown as ClientTransaction;
  }
  sendAck(): void {}
  response(request: SipRequest, status: number, o: ResponseOptions = {}): SipResponse {
    const headers = [...(o.headers ?? [])];
    if (o.recordRoute) for (const h of request.headers) if (h.name === 'Record-Route') headers.push(h);
    if (o.contact) headers.push({ name: 'Contact', value: this.contact });
    return buildResponse(request, status, o.reason, headers, o.toTag);
  }
  addDialog(id: string, usage: DialogUsage): void {
    this.dialogs.set(id, usage);
  }
  removeDialog(id: string, usage: DialogUsage): void {
    if (this.dialogs.get(id) === usage) this.dialogs.delete(id);
  }
  addCancelTarget(): void {}
  removeCancelTarget(): void {}
  random(): number {
    return 0.5;
  }
  /** Answers the NOTIFY at index i. */
  answer(i: number, status: number): void {
    const { request, tx } = this.sent[i]!;
    tx.emit('response', buildResponse(request, status));
  }
}

/** A server transaction that keeps its responses. */
function serverTx(): NonInviteServerTransaction & { responses: SipResponse[] } {
  const responses: SipResponse[] = [];
  return { responses, respond: (r: SipResponse) => (responses.push(r), true) } as unknown as NonInviteServerTransaction & { responses: SipResponse[] };
}

let seq = 0;
function subscribe(extra: string[] = [], opts: { toTag?: string; cseq?: number; callId?: string; contact?: string } = {}): SipRequest {
  const text = [
    'SUBSCRIBE sip:1001@pbx.example.com SIP/2.0',
    'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsub' + ++seq,
    'Record-Route: <sip:127.0.0.1:5060;lr>',
    'Max-Forwards: 69',
    'From: <sip:1001@pbx.example.com>;tag=phone1',
    `To: <sip:1001@pbx.example.com>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
    `Call-ID: ${opts.callId ?? 'sub-1'}`,
    `CSeq: ${opts.cseq ?? 1} SUBSCRIBE`,
    `Contact: ${opts.contact ?? '<sip:1001@10.0.0.5:5062>'}`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return parseMessage(Buffer.from(text)) as SipRequest;
}

function setup(): { core: FakeCore; packages: EventPackages; subs: ServerSubscription[] } {
  const core = new FakeCore();
  const packages = new EventPackages(core);
  const subs: ServerSubscription[] = [];
  packages.on('message-summary', OPTIONS, (s) => {
    subs.push(s);
    s.accept(BODY);
  });
  return { core, packages, subs };
}

describe('ServerSubscription state machine (fake core, ManualClock)', () => {
  it('accepts: 200 with Expires, Contact and Record-Route, then NOTIFY active with the body', () => {
    const { core, packages, subs } = setup();
    const tx = serverTx();
    packages.receive(subscribe(['Event: message-summary', 'Expires: 600']), tx);
    const ok = tx.responses[0]!;
    expect(ok.status).toBe(200);
    expect(getHeader(ok, 'Expires')).toBe('600');
    expect(getHeader(ok, 'Contact')).toBe(core.contact);
    expect(getHeader(ok, 'Record-Route')).toBe('<sip:127.0.0.1:5060;lr>');
    expect(getHeader(ok, 'To')).toMatch(/;tag=/);
    expect(subs[0]!.state).toBe(SubscriptionState.Active);
    expect(core.dialogs.size).toBe(1);
    const notify = core.sent[0]!.request;
    expect(notify.method).toBe('NOTIFY');
    // Loose routing through the proxy that Record-Routed, to the subscriber's Contact.
    expect(notify.uri).toBe('sip:1001@10.0.0.5:5062');
    expect(getHeader(notify, 'Route')).toBe('<sip:127.0.0.1:5060;lr>');
    expect(getHeader(notify, 'Event')).toBe('message-summary');
    expect(getHeader(notify, 'Subscription-State')).toBe('active;expires=600');
    expect(getHeader(notify, 'Content-Type')).toBe(OPTIONS.contentType);
    expect(getHeader(notify, 'Contact')).toBe(core.contact);
    expect(getHeader(notify, 'To')).toBe('<sip:1001@pbx.example.com>;tag=phone1');
    expect(getHeader(notify, 'From')).toContain(`tag=${/tag=([^;>]+)/.exec(getHeader(ok, 'To')!)![1]}`);
    expect(notify.body.toString()).toBe(BODY.body);
  });

  it('grants the package default without Expires and caps a long request at the maximum', () => {
    const { packages } = setup();
    const a = serverTx();
    packages.receive(subscribe(['Event: message-summary']), a);
    expect(getHeader(a.responses[0]!, 'Expires')).toBe('3600');
    const b = serverTx();
    packages.receive(subscribe(['Event: message-summary', 'Expires: 86400'], { callId: 'sub-2' }), b);
    expect(getHeader(b.responses[0]!, 'Expires')).toBe('7200');
  });

  it('refuses what RFC 6665 §4.2.1 refuses: 489 + Allow-Events, 400 without Event, 423 + Min-Expires, 406', () => {
    const { packages, subs } = setup();
    const status = (extra: string[]) => {
      const tx = serverTx();
      packages.receive(subscribe(extra), tx);
      return tx.responses[0]!;
    };
    const bad = status(['Event: presence']);
    expect(bad.status).toBe(489);
    expect(getHeader(bad, 'Allow-Events')).toBe('message-summary');
    expect(status([]).status).toBe(400);
    const brief = status(['Event: message-summary', 'Expires: 10']);
    expect(brief.status).toBe(423);
    expect(getHeader(brief, 'Min-Expires')).toBe('60');
    expect(status(['Event: message-summary', 'Expires: soon']).status).toBe(400);
    expect(status(['Event: message-summary', 'Accept: application/pidf+xml']).status).toBe(406);
    expect(subs).toHaveLength(0);
    // A wildcard or the package type is acceptable.
    expect(status(['Event: message-summary', 'Accept: application/*']).status).toBe(200);
  });

  it('refreshes: 200 with the new Expires, a NOTIFY with the current state, expiry re-armed', () => {
    const { core, packages, subs } = setup();
    const first = serverTx();
    packages.receive(subscribe(['Event: message-summary', 'Expires: 120']), first);
    const toTag = /tag=([^;>]+)/.exec(getHeader(first.responses[0]!, 'To')!)![1]!;
    core.answer(0, 200);
    core.clock.advance(100_000);
    const refresh = serverTx();
    subs[0]!.handleRequest(subscribe(['Event: message-summary', 'Expires: 120'], { toTag, cseq: 2, contact: '<sip:1001@10.0.0.6:5062>' }), refresh);
    expect(refresh.responses[0]!.status).toBe(200);
    expect(getHeader(refresh.responses[0]!, 'Expires')).toBe('120');
    expect(core.sent).toHaveLength(2);
    expect(getHeader(core.sent[1]!.request, 'Subscription-State')).toBe('active;expires=120');
    expect(core.sent[1]!.request.uri).toBe('sip:1001@10.0.0.6:5062'); // the refresh moved the target
    core.answer(1, 200);
    core.clock.advance(100_000); // 200 s after the start: alive only because of the refresh
    expect(subs[0]!.state).toBe(SubscriptionState.Active);
    expect(subs[0]!.remaining).toBe(20);
    // An older CSeq is out of order (§12.2.2).
    const old = serverTx();
    subs[0]!.handleRequest(subscribe(['Event: message-summary'], { toTag, cseq: 1 }), old);
    expect(old.responses[0]!.status).toBe(500);
  });

  it('expires without a refresh: NOTIFY terminated;reason=timeout with the last state, dialog and timers gone', () => {
    const { core, packages, subs } = setup();
    const ended: string[] = [];
    packages.receive(subscribe(['Event: message-summary', 'Expires: 60']), serverTx());
    subs[0]!.on('terminated', (r) => ended.push(r));
    core.answer(0, 200);
    core.clock.advance(59_999);
    expect(subs[0]!.state).toBe(SubscriptionState.Active);
    core.clock.advance(1);
    expect(subs[0]!.state).toBe(SubscriptionState.Terminated);
    expect(ended).toEqual(['timeout']);
    expect(getHeader(core.sent[1]!.request, 'Subscription-State')).toBe('terminated;reason=timeout');
    expect(core.sent[1]!.request.body.toString()).toBe(BODY.body);
    expect(core.dialogs.size).toBe(0);
    expect(core.clock.pending).toBe(0);
  });

  it('un-SUBSCRIBE (Expires: 0): 200 Expires 0, then NOTIFY terminated', () => {
    const { core, packages, subs } = setup();
    const first = serverTx();
    packages.receive(subscribe(['Event: message-summary']), first);
    const toTag = /tag=([^;>]+)/.exec(getHeader(first.responses[0]!, 'To')!)![1]!;
    core.answer(0, 200);
    const un = serverTx();
    subs[0]!.handleRequest(subscribe(['Event: message-summary', 'Expires: 0'], { toTag, cseq: 2 }), un);
    expect(un.responses[0]!.status).toBe(200);
    expect(getHeader(un.responses[0]!, 'Expires')).toBe('0');
    expect(getHeader(core.sent[1]!.request, 'Subscription-State')).toBe('terminated;reason=timeout');
    expect(subs[0]!.reason).toBe('unsubscribed');
    expect(core.dialogs.size).toBe(0);
    expect(core.clock.pending).toBe(0);
  });

  it('a fetch (initial Expires: 0) gets 200 and one terminated NOTIFY, and installs nothing', () => {
    const { core, packages, subs } = setup();
    const tx = serverTx();
    packages.receive(subscribe(['Event: message-summary', 'Expires: 0']), tx);
    expect(tx.responses[0]!.status).toBe(200);
    expect(core.sent).toHaveLength(1);
    expect(getHeader(core.sent[0]!.request, 'Subscription-State')).toBe('terminated;reason=timeout');
    expect(subs[0]!.state).toBe(SubscriptionState.Terminated);
    expect(core.dialogs.size).toBe(0);
  });

  it('sends one NOTIFY at a time; of several changes meanwhile only the newest follows', () => {
    const { core, packages, subs } = setup();
    packages.receive(subscribe(['Event: message-summary']), serverTx());
    const s = subs[0]!;
    s.notify(BODY2);
    s.notify(BODY);
    s.notify(BODY2);
    expect(core.sent).toHaveLength(1); // the first is still unanswered
    core.answer(0, 200);
    expect(core.sent).toHaveLength(2);
    expect(core.sent[1]!.request.body.toString()).toBe(BODY2.body);
    core.answer(1, 200);
    expect(core.sent).toHaveLength(2);
    // CSeq grows in the dialog.
    expect(getHeader(core.sent[1]!.request, 'CSeq')).toMatch(/^\d+ NOTIFY$/);
    expect(Number(getHeader(core.sent[1]!.request, 'CSeq')!.split(' ')[0])).toBe(Number(getHeader(core.sent[0]!.request, 'CSeq')!.split(' ')[0]) + 1);
  });

  it('a terminate() behind a NOTIFY in flight still goes out last, and nothing after it', () => {
    const { core, packages, subs } = setup();
    packages.receive(subscribe(['Event: message-summary']), serverTx());
    subs[0]!.terminate('noresource');
    subs[0]!.notify(BODY2);
    expect(core.sent).toHaveLength(1);
    core.answer(0, 200);
    expect(core.sent).toHaveLength(2);
    expect(getHeader(core.sent[1]!.request, 'Subscription-State')).toBe('terminated;reason=noresource');
  });

  it.each([481, 408])('removes the subscription when a NOTIFY gets %i (RFC 6665 §4.2.2)', (status) => {
    const { core, packages, subs } = setup();
    packages.receive(subscribe(['Event: message-summary']), serverTx());
    core.answer(0, status);
    expect(subs[0]!.reason).toBe('dialog-lost');
    expect(core.dialogs.size).toBe(0);
    expect(core.sent).toHaveLength(1); // no terminated NOTIFY into a dead dialog
    expect(core.clock.pending).toBe(0);
  });

  it('removes the subscription when a NOTIFY times out, keeps it after another failure', () => {
    const { core, packages, subs } = setup();
    packages.receive(subscribe(['Event: message-summary']), serverTx());
    core.answer(0, 500);
    expect(subs[0]!.state).toBe(SubscriptionState.Active);
    subs[0]!.notify(BODY2);
    core.sent[1]!.tx.emit('timeout');
    expect(subs[0]!.reason).toBe('dialog-lost');
  });

  it('close() sends terminated;reason=probation with retry-after at once, even with a NOTIFY in flight', () => {
    const { core, packages, subs } = setup();
    packages.receive(subscribe(['Event: message-summary']), serverTx());
    subs[0]!.close();
    expect(getHeader(core.sent[1]!.request, 'Subscription-State')).toBe('terminated;reason=probation;retry-after=30');
    expect(subs[0]!.reason).toBe('closed');
  });

  it('a handler can reject, and a throwing handler answers 500', () => {
    const core = new FakeCore();
    const packages = new EventPackages(core);
    packages.on('message-summary', OPTIONS, (s) => s.reject(403, 'Not Your Mailbox'));
    const tx = serverTx();
    packages.receive(subscribe(['Event: message-summary']), tx);
    expect(tx.responses[0]!.status).toBe(403);
    packages.on('message-summary', OPTIONS, () => {
      throw new Error('boom');
    });
    const tx2 = serverTx();
    packages.receive(subscribe(['Event: message-summary']), tx2);
    expect(tx2.responses[0]!.status).toBe(500);
    expect(core.dialogs.size).toBe(0);
  });

  it('allows SUBSCRIBE only once a package is served', () => {
    const core = new FakeCore();
    const packages = new EventPackages(core);
    expect(packages.methods).not.toContain('SUBSCRIBE');
    packages.on('message-summary', OPTIONS, () => undefined);
    expect(packages.allow).toMatch(/, SUBSCRIBE$/);
    expect(() => packages.on('x', { ...OPTIONS, minExpires: 0 }, () => undefined)).toThrow();
  });
});

describe('a UserAgent as notifier over loopback UDP', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('answers SUBSCRIBE 200, NOTIFYs through the Record-Route hop, refreshes, un-subscribes; 405 without a package', async () => {
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => peer.close(() => r())));
    const port = peer.address().port;
    const transport = await SipTransport.listen({ host: '127.0.0.1', port: 0, trustedPeers: ['127.0.0.1'] });
    const ua = new UserAgent({ transport, outboundProxy: { host: '127.0.0.1', port, protocol: 'UDP' }, contactUser: 'daemon', timers: { t1: 50 } });
    cleanup.push(() => ua.close());
    const inbox: (SipRequest | SipResponse)[] = [];
    const waiters: (() => void)[] = [];
    peer.on('message', (m) => {
      const msg = parseMessage(m) as SipRequest | SipResponse;
      // Answer every NOTIFY 200 like a phone would.
      if (msg.kind === 'request') peer.send(Buffer.from(serializeResponse(buildResponse(msg, 200))), transport.local.port, '127.0.0.1');
      inbox.push(msg);
      for (const w of waiters.splice(0)) w();
    });
    const next = async (pred: (m: SipRequest | SipResponse) => boolean) => {
      for (;;) {
        const i = inbox.findIndex(pred);
        if (i >= 0) return inbox.splice(i, 1)[0]!;
        await new Promise<void>((r) => waiters.push(r));
      }
    };
    let n = 0;
    const send = (extra: string[], toTag?: string, cseq = 1) => {
      const text = [
        `SUBSCRIBE sip:1001@127.0.0.1 SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKlo${++n};rport`,
        `Record-Route: <sip:127.0.0.1:${port};lr>`,
        'Max-Forwards: 70',
        'From: <sip:1001@127.0.0.1>;tag=ph',
        `To: <sip:1001@127.0.0.1>${toTag ? `;tag=${toTag}` : ''}`,
        'Call-ID: loop-sub',
        `CSeq: ${cseq} SUBSCRIBE`,
        `Contact: <sip:1001@127.0.0.1:${port}>`,
        ...extra,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      peer.send(text, transport.local.port, '127.0.0.1');
    };
    const isStatus = (cseq: number) => (m: SipRequest | SipResponse) => m.kind === 'response' && getHeader(m, 'CSeq') === `${cseq} SUBSCRIBE`;
    const isNotify = (m: SipRequest | SipResponse) => m.kind === 'request' && m.method === 'NOTIFY';

    send(['Event: message-summary']);
    expect(((await next(isStatus(1))) as SipResponse).status).toBe(405);

    const subs: ServerSubscription[] = [];
    ua.onSubscribe('message-summary', OPTIONS, (s) => {
      subs.push(s);
      s.accept(BODY);
    });
    send(['Event: message-summary', 'Expires: 300'], undefined, 2);
    const ok = (await next(isStatus(2))) as SipResponse;
    expect(ok.status).toBe(200);
    const toTag = /tag=([^;>]+)/.exec(getHeader(ok, 'To')!)![1]!;
    const first = (await next(isNotify)) as SipRequest;
    expect(getHeader(first, 'Subscription-State')).toBe('active;expires=300');
    expect(getHeader(first, 'Route')).toBe(`<sip:127.0.0.1:${port};lr>`);
    expect(first.uri).toBe(`sip:1001@127.0.0.1:${port}`);
    subs[0]!.notify(BODY2);
    expect(((await next(isNotify)) as SipRequest).body.toString()).toBe(BODY2.body);
    send(['Event: message-summary', 'Expires: 300'], toTag, 3);
    expect(((await next(isStatus(3))) as SipResponse).status).toBe(200);
    expect(((await next(isNotify)) as SipRequest).body.toString()).toBe(BODY2.body);
    send(['Event: message-summary', 'Expires: 0'], toTag, 4);
    expect(((await next(isStatus(4))) as SipResponse).status).toBe(200);
    expect(getHeader((await next(isNotify)) as SipRequest, 'Subscription-State')).toBe('terminated;reason=timeout');
    // The dialog is gone: a late refresh gets 481.
    send(['Event: message-summary', 'Expires: 300'], toTag, 5);
    expect(((await next(isStatus(5))) as SipResponse).status).toBe(481);
    expect(ua.size.dialogs).toBe(0);

    // A new subscription, then the UA closes: the subscriber hears terminated;reason=probation first.
    send(['Event: message-summary', 'Expires: 300'], undefined, 6);
    expect(((await next(isStatus(6))) as SipResponse).status).toBe(200);
    await next(isNotify);
    expect(ua.size.dialogs).toBe(1);
    await ua.close();
    expect(getHeader((await next(isNotify)) as SipRequest, 'Subscription-State')).toBe('terminated;reason=probation;retry-after=30');
  });
});

function serializeResponse(r: SipResponse): string {
  const lines = [`SIP/2.0 ${r.status} ${r.reason}`, ...r.headers.filter((h) => h.name !== 'Content-Length').map((h) => `${h.name}: ${h.value}`), 'Content-Length: 0', '', ''];
  return lines.join('\r\n');
}
