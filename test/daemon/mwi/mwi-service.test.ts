/**
 * MwiService against a fake UA: SUBSCRIBE checks (own box, existing box with voicemail), NOTIFY to
 * subscribers and unsolicited NOTIFY on `voicemail.changed`, one unsolicited NOTIFY per box at a
 * time with changes collapsed, unsolicited NOTIFY on a new registration.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { SipResponse } from '../../../src/sip/message.js';
import { parseNameAddr } from '../../../src/sip/headers.js';
import type { RequestOptions, ServerSubscription } from '../../../src/sip/user-agent.js';
import type { FeatureConfig } from '../../../src/daemon/config-types.js';
import { EventBus } from '../../../src/daemon/events.js';
import { MwiService } from '../../../src/daemon/mwi/mwi-service.js';
import { parseMessageSummary } from '../../../src/daemon/mwi/message-summary.js';

let config = {
  domain: 'pbx.example.com',
  extensions: {
    '1001': { number: '1001', name: 'Ann', voicemail: true },
    '1002': { number: '1002', name: 'Bob', voicemail: false },
  },
} as unknown as FeatureConfig;

class FakeSub extends EventEmitter {
  accepted: string[] = [];
  rejected: number | undefined;
  notified: string[] = [];
  constructor(readonly resource: string, from: string) {
    super();
    this.subscriber = parseNameAddr(from);
  }
  readonly subscriber;
  accept(b: { body: string }): number {
    this.accepted.push(b.body);
    return 3600;
  }
  reject(status: number): void {
    this.rejected = status;
  }
  notify(b: { body: string }): void {
    this.notified.push(b.body);
  }
  terminated: string | undefined;
  terminate(reason: string): void {
    this.terminated = reason;
    this.emit('terminated', reason);
  }
}

function setup() {
  const events = new EventBus();
  const counts = new Map<string, { newCount: number; oldCount: number }>();
  const requests: { options: RequestOptions; resolve: (r: SipResponse) => void }[] = [];
  let handler: ((s: ServerSubscription) => void) | undefined;
  const ua = {
    contact: '<sip:daemon@127.0.0.1:5063>',
    onSubscribe: (_name: string, _o: unknown, h: (s: ServerSubscription) => void) => void (handler = h),
    request: (options: RequestOptions) => new Promise<SipResponse>((resolve) => requests.push({ options, resolve })),
  };
  const mwi = new MwiService({ ua, events, config: () => config, counts: { counts: (m) => counts.get(m) ?? { newCount: 0, oldCount: 0 } } });
  mwi.start();
  const subscribe = (uri: string, from: string) => {
    const s = new FakeSub(uri, from);
    handler!(s as unknown as ServerSubscription);
    return s;
  };
  const ok = { status: 200 } as SipResponse;
  return { events, counts, requests, mwi, subscribe, ok };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('MwiService', () => {
  it('accepts a subscription to your own box with the current counts', () => {
    const { counts, subscribe, mwi } = setup();
    counts.set('1001', { newCount: 1, oldCount: 2 });
    const s = subscribe('sip:1001@pbx.example.com', '<sip:1001@pbx.example.com>;tag=x');
    expect(s.rejected).toBeUndefined();
    expect(parseMessageSummary(s.accepted[0]!)).toMatchObject({ waiting: true, account: 'sip:1001@pbx.example.com', voice: { newCount: 1, oldCount: 2 } });
    expect(mwi.subscriptionCount('1001')).toBe(1);
    s.emit('terminated', 'timeout');
    expect(mwi.subscriptionCount('1001')).toBe(0);
  });

  it('refuses someone else’s box (403), a box without voicemail or unknown (404)', () => {
    const { subscribe } = setup();
    expect(subscribe('sip:1001@pbx.example.com', '<sip:1003@pbx.example.com>;tag=x').rejected).toBe(403);
    expect(subscribe('sip:1002@pbx.example.com', '<sip:1002@pbx.example.com>;tag=x').rejected).toBe(404);
    expect(subscribe('sip:1999@pbx.example.com', '<sip:1999@pbx.example.com>;tag=x').rejected).toBe(404);
  });

  it('on voicemail.changed: NOTIFY to subscribers and one unsolicited NOTIFY to the AOR', async () => {
    const { events, counts, subscribe, requests, ok } = setup();
    const s = subscribe('sip:1001@pbx.example.com', '<sip:1001@pbx.example.com>;tag=x');
    counts.set('1001', { newCount: 1, oldCount: 0 });
    events.publish({ type: 'voicemail.changed', mailbox: '1001', newCount: 1, oldCount: 0 });
    expect(parseMessageSummary(s.notified[0]!).waiting).toBe(true);
    expect(requests).toHaveLength(1);
    const r = requests[0]!.options;
    expect(r).toMatchObject({ method: 'NOTIFY', requestUri: 'sip:1001@pbx.example.com', to: '<sip:1001@pbx.example.com>', contentType: 'application/simple-message-summary' });
    expect(r.headers).toContainEqual({ name: 'Event', value: 'message-summary' });
    expect(r.headers).toContainEqual({ name: 'Subscription-State', value: 'active' });
    expect(parseMessageSummary(String(r.body))).toMatchObject({ waiting: true, voice: { newCount: 1 } });
    requests[0]!.resolve(ok);
    await tick();
    expect(requests).toHaveLength(1);
  });

  it('collapses changes during an unsolicited NOTIFY into one more with the latest counts', async () => {
    const { events, counts, requests, ok } = setup();
    for (let n = 1; n <= 3; n++) {
      counts.set('1001', { newCount: n, oldCount: 0 });
      events.publish({ type: 'voicemail.changed', mailbox: '1001', newCount: n, oldCount: 0 });
    }
    expect(requests).toHaveLength(1);
    requests[0]!.resolve(ok);
    await tick();
    expect(requests).toHaveLength(2);
    expect(parseMessageSummary(String(requests[1]!.options.body)).voice?.newCount).toBe(3);
    requests[1]!.resolve({ status: 480 } as SipResponse); // nobody registered: fine
    await tick();
    expect(requests).toHaveLength(2);
  });

  it('sends an unsolicited NOTIFY when a phone of a box registers, not on refreshes or for boxes without voicemail', async () => {
    const { events, requests } = setup();
    const reg = (aor: string, change: 'registered' | 'refreshed') => events.publish({ type: 'registration.changed', aor, contact: 'sip:x@1.2.3.4', expires: 3600, change });
    reg('1001', 'refreshed');
    reg('1002', 'registered');
    expect(requests).toHaveLength(0);
    reg('1001', 'registered');
    expect(requests).toHaveLength(1);
    expect(parseMessageSummary(String(requests[0]!.options.body)).waiting).toBe(false);
  });

  it('ends subscriptions of a box a new config no longer has (noresource)', () => {
    const { events, subscribe, mwi } = setup();
    const s = subscribe('sip:1001@pbx.example.com', '<sip:1001@pbx.example.com>;tag=x');
    const saved = config;
    try {
      events.publish({ type: 'config.loaded', version: 'a' });
      expect(s.terminated).toBeUndefined();
      config = { ...saved, extensions: { '1001': { number: '1001', name: 'Ann', voicemail: false } } } as unknown as FeatureConfig;
      events.publish({ type: 'config.loaded', version: 'b' });
      expect(s.terminated).toBe('noresource');
      expect(mwi.subscriptionCount('1001')).toBe(0);
    } finally {
      config = saved;
    }
  });

  it('ignores changes of boxes the config does not have, and stops cleanly', async () => {
    const { events, requests, mwi, ok } = setup();
    events.publish({ type: 'voicemail.changed', mailbox: '1002', newCount: 1, oldCount: 0 });
    expect(requests).toHaveLength(0);
    events.publish({ type: 'voicemail.changed', mailbox: '1001', newCount: 1, oldCount: 0 });
    const stopping = mwi.stop();
    requests[0]!.resolve(ok);
    await stopping;
    events.publish({ type: 'voicemail.changed', mailbox: '1001', newCount: 2, oldCount: 0 });
    expect(requests).toHaveLength(1);
  });
});
