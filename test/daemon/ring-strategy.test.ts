/** Ring-group dial plans (daemon/ring-strategy.ts): every strategy, availability, timeouts, rotation state. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FeatureRingGroup, FeatureRingMember, RingStrategy } from '../../src/daemon/config-types.js';
import { nextState, ringPlan, toRingState, waveTimeoutMs, type RingPlan, type RingStrategyState } from '../../src/daemon/ring-strategy.js';

const member = (number: string, ringTimeout = 20): FeatureRingMember => ({ type: number.startsWith('+') ? 'external' : 'extension', number, ringTimeout });

function group(strategy: RingStrategy, members: FeatureRingMember[], totalTimeout = 60): FeatureRingGroup {
  return { id: 'g', strategy, members, ringTimeout: 20, totalTimeout, fallback: { type: 'hangup' } };
}

/** The numbers of each wave. */
const waves = (p: RingPlan) => p.waves.map((w) => w.targets.map((t) => t.number));

describe('simultaneous', () => {
  it('rings every available member in one wave, for the longest member timeout within the total', () => {
    const g = group('simultaneous', [member('320', 25), member('321', 25), member('+12125550188', 10)], 25);
    const p = ringPlan(g);
    expect(waves(p)).toEqual([['320', '321', '+12125550188']]);
    expect(p.waves[0]!.timeoutMs).toBe(25_000);
    expect(p.waves[0]!.targets.map((t) => t.ringTimeoutMs)).toEqual([25_000, 25_000, 10_000]);
    expect(p.waves[0]!.targets[0]!.label).toBe('ring-group:g member 320');
    expect(p.totalTimeoutMs).toBe(25_000);
    expect(p.skipped).toEqual([]);
  });

  it('leaves unavailable members out; nobody available means no waves (go to the fallback)', () => {
    const g = group('simultaneous', [member('320'), member('321')]);
    const p = ringPlan(g, { available: (m) => m.number !== '320' });
    expect(waves(p)).toEqual([['321']]);
    expect(p.skipped).toEqual(['320']);
    expect(ringPlan(g, { available: () => false })).toEqual({ waves: [], totalTimeoutMs: 60_000, skipped: ['320', '321'] });
  });
});

describe('sequential', () => {
  it('rings one member per wave in list order, each for its own timeout capped by the total', () => {
    const g = group('sequential', [member('330', 15), member('331', 15), member('332', 90)], 35);
    const p = ringPlan(g);
    expect(waves(p)).toEqual([['330'], ['331'], ['332']]);
    expect(p.waves.map((w) => w.timeoutMs)).toEqual([15_000, 15_000, 35_000]);
  });

  it('clips each wave by what is left of the total', () => {
    const p = ringPlan(group('sequential', [member('330', 15), member('331', 15), member('332', 15)], 35));
    expect(waveTimeoutMs(p, 0, 0)).toBe(15_000);
    expect(waveTimeoutMs(p, 1, 15_000)).toBe(15_000);
    expect(waveTimeoutMs(p, 2, 30_000)).toBe(5_000);
    expect(waveTimeoutMs(p, 1, 1_000)).toBe(15_000); // the first was busy at once: the next gets its full time
    expect(waveTimeoutMs(p, 2, 40_000)).toBe(0);
    expect(waveTimeoutMs(p, 3, 0)).toBe(0); // no such wave
    expect(waveTimeoutMs(p, 0, -5)).toBe(15_000);
  });
});

describe('round-robin', () => {
  const g = group('round-robin', [member('11'), member('22'), member('33'), member('44')]);

  it('starts at the top without state, and after the last member tried otherwise', () => {
    expect(waves(ringPlan(g))).toEqual([['11'], ['22'], ['33'], ['44']]);
    expect(waves(ringPlan(g, { state: { last: '22' } }))).toEqual([['33'], ['44'], ['11'], ['22']]);
    expect(waves(ringPlan(g, { state: { last: '44' } }))).toEqual([['11'], ['22'], ['33'], ['44']]);
    expect(waves(ringPlan(g, { state: { last: 'gone' } }))).toEqual([['11'], ['22'], ['33'], ['44']]);
  });

  it('rotates across calls when the caller persists nextState', () => {
    let state: RingStrategyState = {};
    const firsts: string[] = [];
    for (let call = 0; call < 6; call++) {
      const p = ringPlan(g, { state });
      const first = p.waves[0]!.targets[0]!.number;
      firsts.push(first);
      state = nextState(g, state, { offered: [first], answered: first, at: 1000 + call });
    }
    expect(firsts).toEqual(['11', '22', '33', '44', '11', '22']);
  });

  it('continues after the last member offered when nobody answered', () => {
    const s = nextState(g, {}, { offered: ['11', '22', '33'], at: 5 });
    expect(s.last).toBe('33');
    expect(waves(ringPlan(g, { state: s }))[0]).toEqual(['44']);
  });

  it('skips unavailable members but keeps the rotation', () => {
    expect(waves(ringPlan(g, { state: { last: '11' }, available: (m) => m.number !== '22' }))).toEqual([['33'], ['44'], ['11']]);
  });
});

describe('random', () => {
  it('rings each available member once, in the order the injected RNG gives', () => {
    const g = group('random', [member('11'), member('22'), member('33'), member('44')]);
    const seq = [0.9, 0.1, 0.5];
    let i = 0;
    const p = ringPlan(g, { random: () => seq[i++ % seq.length]! });
    // Fisher-Yates from the end: j = floor(0.9*4)=3 (44 stays), floor(0.1*3)=0 (swap 33,11), floor(0.5*2)=1 (22 stays)
    expect(waves(p)).toEqual([['33'], ['22'], ['11'], ['44']]);
    expect(ringPlan(g, { random: () => 0.999999 }).waves).toHaveLength(4);
    expect(waves(ringPlan(g, { random: () => 1 }))).toEqual([['11'], ['22'], ['33'], ['44']]); // a bad RNG cannot index past the end
  });
});

describe('least-recent', () => {
  const g = group('least-recent', [member('11'), member('22'), member('33')]);

  it('puts who answered least recently first; never answered counts as longest ago; ties by list order', () => {
    expect(waves(ringPlan(g))).toEqual([['11'], ['22'], ['33']]);
    expect(waves(ringPlan(g, { state: { answered: { '11': 300, '22': 100 } } }))).toEqual([['33'], ['22'], ['11']]);
  });

  it('breaks ties between members who never answered by when they were last offered', () => {
    const state = { answered: { '11': 500 }, offered: { '11': 500, '22': 400 } };
    expect(waves(ringPlan(g, { state }))).toEqual([['33'], ['22'], ['11']]);
  });

  it('moves an answering member to the back of the line', () => {
    let state: RingStrategyState = {};
    const answeredBy: string[] = [];
    for (let call = 0; call < 4; call++) {
      const first = ringPlan(g, { state }).waves[0]!.targets[0]!.number;
      answeredBy.push(first);
      state = nextState(g, state, { offered: [first], answered: first, at: 1_000 * (call + 1) });
    }
    expect(answeredBy).toEqual(['11', '22', '33', '11']);
  });
});

describe('nextState', () => {
  const g = group('least-recent', [member('11'), member('22')]);

  it('records offered and answered times and the last member', () => {
    expect(nextState(g, {}, { offered: ['11', '22'], answered: '22', at: 7 })).toEqual({ last: '22', answered: { '22': 7 }, offered: { '11': 7, '22': 7 } });
    expect(nextState(g, { last: '11' }, { offered: [], at: 9 })).toEqual({ last: '11' });
  });

  it('forgets members no longer in the group', () => {
    const s = nextState(g, { last: '99', answered: { '99': 1, '11': 2 }, offered: { '99': 1 } }, { offered: [], at: 3 });
    expect(s).toEqual({ answered: { '11': 2 } });
  });
});

describe('toRingState', () => {
  it('keeps what is well-formed from a stored state and drops the rest', () => {
    expect(toRingState({ last: '11', answered: { '11': 5, '22': 'x', '33': null }, offered: [] })).toEqual({ last: '11', answered: { '11': 5 } });
    for (const junk of [undefined, null, 7, 'x', [], { last: 5, answered: 'no' }]) expect(toRingState(junk)).toEqual({});
    const s: RingStrategyState = { last: '22', answered: { '11': 1 }, offered: { '22': 2 } };
    expect(toRingState(JSON.parse(JSON.stringify(s)))).toEqual(s);
  });
});

describe('properties', () => {
  const strategies: RingStrategy[] = ['simultaneous', 'sequential', 'round-robin', 'random', 'least-recent'];
  const arb = fc.record({
    strategy: fc.constantFrom(...strategies),
    members: fc.uniqueArray(fc.integer({ min: 10, max: 99 }), { minLength: 0, maxLength: 8 }).chain((ns) =>
      fc.tuple(...ns.map((n) => fc.record({ n: fc.constant(String(n)), timeout: fc.integer({ min: 0, max: 120 }), up: fc.boolean() })))),
    total: fc.integer({ min: 0, max: 300 }),
    last: fc.option(fc.integer({ min: 10, max: 99 }).map(String), { nil: undefined }),
    times: fc.dictionary(fc.integer({ min: 10, max: 99 }).map(String), fc.integer({ min: 0, max: 1e12 })),
    seed: fc.integer(),
  });

  it('rings every available member exactly once, nobody unavailable, never longer than the total', () => {
    fc.assert(fc.property(arb, ({ strategy, members, total, last, times, seed }) => {
      const g = group(strategy, members.map((m) => member(m.n, m.timeout)), total);
      const up = new Set(members.filter((m) => m.up).map((m) => m.n));
      let x = seed;
      const random = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) < 0 ? -x : x) / 2 ** 31;
      const p = ringPlan(g, { available: (m) => up.has(m.number), state: { last, answered: times, offered: times }, random });
      const rung = p.waves.flatMap((w) => w.targets.map((t) => t.number));
      expect([...rung].sort()).toEqual([...up].sort());
      expect(p.skipped.sort()).toEqual(members.map((m) => m.n).filter((n) => !up.has(n)).sort());
      if (strategy !== 'simultaneous') expect(p.waves.every((w) => w.targets.length === 1)).toBe(true);
      for (const w of p.waves) {
        expect(w.timeoutMs).toBeLessThanOrEqual(total * 1000);
        for (const t of w.targets) expect(t.ringTimeoutMs).toBeLessThanOrEqual(w.timeoutMs);
      }
    }));
  });
});
