/**
 * Ring-group strategies (schemas/ring-group.schema.json): which members ring, in which waves, for
 * how long. Pure: member availability, the persisted strategy state and the random source are
 * inputs; the caller dials the waves (channel.ts DialRequest: each wave is one set of simultaneous
 * INVITEs), persists {@link nextState} after the call (ring-state-store.ts) and goes to the group's
 * fallback when the plan runs out.
 *
 * - simultaneous: one wave with every available member.
 * - sequential: one wave per available member, in list order.
 * - round-robin: like sequential, but starting after the member last tried or answered, so
 *   successive calls rotate through the list.
 * - random: one wave per available member, in a random order.
 * - least-recent: one wave per available member, the one who answered a call of this group least
 *   recently first (never answered counts as longest ago); ties go to the one offered a call least
 *   recently, then list order.
 *
 * Times: the config's seconds become ms here. Each wave rings for the shortest of its members'
 * ring timeouts (for sequential strategies: the member's) and the group's total timeout; the total
 * budget is shared by all waves, so the caller clips each wave with {@link waveTimeoutMs} by the time
 * already spent (a member who is busy at once leaves more time for the next one).
 */
import type { FeatureRingGroup, FeatureRingMember } from './config-types.js';

/**
 * What the daemon remembers about a group between calls (JSON-safe; persisted by the caller,
 * restored with {@link toRingState}). Keys of the records are member numbers; times ms since the epoch.
 */
export interface RingStrategyState {
  /** The member last tried or answered (round-robin continues after it). */
  last?: string;
  /** When each member last answered a call of this group (least-recent). */
  answered?: Record<string, number>;
  /** When each member was last offered a call of this group, answered or not (least-recent ties). */
  offered?: Record<string, number>;
}

/** One member to ring (shaped like channel.ts DialTarget). */
export interface RingTarget {
  /** Extension number or E.164. */
  number: string;
  /** How long this member may ring, ms. */
  ringTimeoutMs: number;
  /** For events and CDRs: `ring-group:sales member 320`. */
  label: string;
}

/** Members rung at the same time. */
export interface RingWave {
  targets: RingTarget[];
  /** How long the wave rings at most, ms, before the group's total budget is applied (see waveTimeoutMs). */
  timeoutMs: number;
}

/** The waves of one call to a group. */
export interface RingPlan {
  waves: RingWave[];
  /** The group's total timeout, ms: all waves together ring no longer. */
  totalTimeoutMs: number;
  /** Members left out as unavailable (numbers, list order). */
  skipped: string[];
}

/** Inputs of {@link ringPlan} besides the group. */
export interface RingPlanOptions {
  /** Whether a member can be rung now (registered, not on DND...); all are by default. */
  available?: (member: FeatureRingMember) => boolean;
  /** The group's persisted state (round-robin, least-recent); empty by default. */
  state?: RingStrategyState;
  /** Uniform random number in [0, 1) for `random` (Math.random by default; inject for tests). */
  random?: () => number;
}

/** What happened on one call, for {@link nextState}. */
export interface RingOutcome {
  /** Members that were rung, in the order they were rung. */
  offered: string[];
  /** The member who answered, if any. */
  answered?: string;
  /** When the call ended ringing, ms since the epoch. */
  at: number;
}

const ms = (seconds: number) => seconds * 1000;

/**
 * The dial plan for one call to `group`. A plan without waves means nobody can be rung: go to the
 * fallback at once.
 */
export function ringPlan(group: FeatureRingGroup, opts: RingPlanOptions = {}): RingPlan {
  const totalTimeoutMs = ms(group.totalTimeout);
  const available = opts.available ?? (() => true);
  const state = opts.state ?? {};
  const usable = group.members.filter(available);
  const skipped = group.members.filter((m) => !usable.includes(m)).map((m) => m.number);
  const target = (m: FeatureRingMember): RingTarget => ({
    number: m.number,
    ringTimeoutMs: Math.min(ms(m.ringTimeout), totalTimeoutMs),
    label: `ring-group:${group.id} member ${m.number}`,
  });
  const oneByOne = (members: FeatureRingMember[]): RingWave[] => members.map((m) => ({ targets: [target(m)], timeoutMs: target(m).ringTimeoutMs }));

  let waves: RingWave[];
  switch (group.strategy) {
    case 'simultaneous': {
      const targets = usable.map(target);
      waves = targets.length ? [{ targets, timeoutMs: Math.max(...targets.map((t) => t.ringTimeoutMs)) }] : [];
      break;
    }
    case 'sequential':
      waves = oneByOne(usable);
      break;
    case 'round-robin':
      waves = oneByOne(rotateAfter(group.members, state.last).filter((m) => usable.includes(m)));
      break;
    case 'random':
      waves = oneByOne(shuffle(usable, opts.random ?? Math.random));
      break;
    case 'least-recent':
      waves = oneByOne(leastRecentFirst(usable, state));
      break;
  }
  return { waves, totalTimeoutMs, skipped };
}

/**
 * How long wave `index` may ring, ms, when `elapsedMs` of the group's total have passed: its own
 * timeout clipped to what is left. 0 means the budget is spent: stop and go to the fallback.
 */
export function waveTimeoutMs(plan: RingPlan, index: number, elapsedMs: number): number {
  const wave = plan.waves[index];
  if (!wave) return 0;
  return Math.max(0, Math.min(wave.timeoutMs, plan.totalTimeoutMs - Math.max(0, elapsedMs)));
}

/**
 * The group's state after a call: `last` is who answered, else the last member offered; offered
 * and answered times are updated. Members no longer in the group are forgotten, so the state stays
 * as small as the group.
 */
export function nextState(group: FeatureRingGroup, state: RingStrategyState, outcome: RingOutcome): RingStrategyState {
  const members = new Set(group.members.map((m) => m.number));
  const keep = (r: Record<string, number> | undefined) => Object.fromEntries(Object.entries(r ?? {}).filter(([n]) => members.has(n)));
  const offered = keep(state.offered);
  const answered = keep(state.answered);
  for (const n of outcome.offered) if (members.has(n)) offered[n] = outcome.at;
  if (outcome.answered !== undefined && members.has(outcome.answered)) {
    answered[outcome.answered] = outcome.at;
    offered[outcome.answered] = outcome.at;
  }
  const last = outcome.answered ?? outcome.offered[outcome.offered.length - 1] ?? state.last;
  const out: RingStrategyState = {};
  if (last !== undefined && members.has(last)) out.last = last;
  if (Object.keys(answered).length) out.answered = answered;
  if (Object.keys(offered).length) out.offered = offered;
  return out;
}

/**
 * A state read back from storage (ring-state-store.ts keeps it as opaque JSON): anything that is
 * not a well-formed state, or parts of it, is dropped, so a damaged file only restarts rotations.
 */
export function toRingState(json: unknown): RingStrategyState {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return {};
  const o = json as Record<string, unknown>;
  const times = (v: unknown): Record<string, number> | undefined => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    const entries = Object.entries(v as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]));
    return entries.length ? Object.fromEntries(entries) : undefined;
  };
  const out: RingStrategyState = {};
  if (typeof o.last === 'string') out.last = o.last;
  const answered = times(o.answered);
  const offered = times(o.offered);
  if (answered) out.answered = answered;
  if (offered) out.offered = offered;
  return out;
}

/** The list starting after the member numbered `last` (from the top when it is not in the list). */
function rotateAfter(members: FeatureRingMember[], last: string | undefined): FeatureRingMember[] {
  const i = last === undefined ? -1 : members.findIndex((m) => m.number === last);
  return [...members.slice(i + 1), ...members.slice(0, i + 1)];
}

/** Fisher-Yates with an injected random source (a copy; the input is untouched). */
function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    // Clamp: a random source returning exactly 1 must not index past the end.
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Least recently answered first; then least recently offered; then list order (the sort is stable). */
function leastRecentFirst(members: FeatureRingMember[], state: RingStrategyState): FeatureRingMember[] {
  const at = (r: Record<string, number> | undefined, n: string) => r?.[n] ?? -Infinity;
  return [...members].sort((a, b) => {
    const byAnswer = at(state.answered, a.number) - at(state.answered, b.number);
    if (byAnswer !== 0 && !Number.isNaN(byAnswer)) return byAnswer;
    const byOffer = at(state.offered, a.number) - at(state.offered, b.number);
    return Number.isNaN(byOffer) ? 0 : byOffer;
  });
}
