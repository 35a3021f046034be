import { describe, expect, it } from 'vitest';
import { startMediaMonitor, summarizeQuery } from '../../src/daemon/media-monitor.js';
import type { CallMediaEvent } from '../../src/daemon/events.js';
import type { QueryResult } from '../../src/rtpengine/ng-types.js';

function query(o: Partial<QueryResult> = {}): QueryResult {
  return {
    tags: [
      { tag: 'a', subscriptions: [], subscribers: [], medias: [{ index: 1, type: 'audio', flags: [], streams: [] }] },
      { tag: 'b', subscriptions: [], subscribers: [], medias: [{ index: 1, type: 'audio', codec: 'PCMA/8000', flags: [], streams: [] }] },
    ],
    totals: { rtp: { packets: 1200, bytes: 0, errors: 0 }, rtcp: { packets: 4, bytes: 0, errors: 0 } },
    ssrc: {},
    raw: {},
    ...o,
  };
}

describe('media monitor', () => {
  it('summarizes a query: packets, codec, and the worst direction of loss, jitter and MOS from RTCP', () => {
    expect(summarizeQuery(query())).toEqual({ packets: 1200, codec: 'PCMA/8000' });
    const s = summarizeQuery(query({ ssrc: { '1': { packets: 990, cumulativeLoss: 10, jitter: 4, mos: 43 }, '2': { packets: 500, cumulativeLoss: 0, jitter: 21, mos: 38 } } }));
    expect(s).toEqual({ packets: 1200, codec: 'PCMA/8000', lossPct: 1, jitterMs: 21, mos: 3.8 });
  });

  it('queries RTPengine only while someone watches, and skips calls whose query fails', async () => {
    let watching = false;
    const asked: string[] = [];
    const published: CallMediaEvent[] = [];
    const m = startMediaMonitor({
      query: async (id) => {
        asked.push(id);
        if (id === 'gone') throw new Error('Unknown call-id');
        return query();
      },
      answeredCalls: () => ['c1', 'gone'],
      publish: (e) => published.push(e),
      watching: () => watching,
      intervalMs: 60_000,
    });
    try {
      await m.round();
      expect(asked).toEqual([]);
      watching = true;
      await m.round();
      expect(asked).toEqual(['c1', 'gone']);
      expect(published).toEqual([{ type: 'call.media', callId: 'c1', packets: 1200, codec: 'PCMA/8000' }]);
    } finally {
      m.stop();
    }
  });
});
