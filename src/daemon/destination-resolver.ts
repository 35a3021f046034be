/**
 * Where a call handed to the daemon goes next. Kamailio relays a call with the dialled number (the
 * request URI user: internal number, feature code or DID in E.164) and the `dest` of its htable
 * entry (docs/node-data.md `dial` and `did`): a repo destination (`ivr:main`, `ring-group:sales`,
 * `voicemail:1001`, `external:+1555...`, `hangup`), `feature:<code name>` for feature codes, or
 * `route:<InboundRoute id>` for a DID routed by schedule. This module turns that, or a destination a
 * flow returns (an IVR option, a fallback), into one typed step, following the static hops on the
 * way: schedules (evaluated with the injected clock), an extension's forward.always and its
 * do-not-disturb (forward.busy, else busy), and the forward Kamailio names in X-PBX-Forward for an
 * extension it rang itself. Pure.
 *
 * Failures are values (`reject` with a SIP status), not exceptions: a Kamailio htable and a daemon
 * config of different releases can briefly disagree during an apply, and the call must still end
 * cleanly.
 */
import {
  destinationText, toFeatureDestination,
  type DialEntry, type FeatureConference, type FeatureConfig, type FeatureExtension, type FeatureInboundRoute, type FeatureIvr,
  type FeatureQueue, type FeatureRingGroup,
} from './config-types.js';
import type { FeatureCodeName } from '../model/types.js';
import { scheduleState, type ScheduleStateName } from './schedule.js';

/** The wall clock (injected so tests fix the instant). */
export type Clock = () => Date;

/**
 * Why Kamailio handed a call for an extension it relays itself to the daemon (X-PBX-Forward with
 * X-PBX-Dest `extension:N`, docs/node-data.md "Forwards"): `always` and `dnd` before ringing,
 * `unavailable` when nothing is registered or every contact failed, `busy` / `no-answer` after
 * ringing. The daemon does not ring the extension again.
 */
export type KamailioForward = 'always' | 'dnd' | 'busy' | 'no-answer' | 'unavailable';

const KAMAILIO_FORWARDS: ReadonlySet<string> = new Set<KamailioForward>(['always', 'dnd', 'busy', 'no-answer', 'unavailable']);

/** Parses X-PBX-Forward; undefined for anything else (the header is then ignored). */
export function parseKamailioForward(text: string | undefined): KamailioForward | undefined {
  const t = text?.trim().toLowerCase();
  return t !== undefined && KAMAILIO_FORWARDS.has(t) ? (t as KamailioForward) : undefined;
}

/** A call as Kamailio hands it to the daemon. */
export interface DaemonRequest {
  /** The request URI user: internal number (`600`), feature code (`*97`) or DID (`+15551230100`). */
  dialed: string;
  /** Kamailio's `dest` (X-PBX-Dest), e.g. `ivr:main`, `route:main-number`, `feature:echoTest`. */
  dest?: string;
  /** Kamailio's X-PBX-Forward: the call is for `dest` `extension:N` and that forward applies directly. */
  forward?: KamailioForward;
}

/** The next thing to do with the call. Config records are the ones of the config passed in. */
export type ResolvedStep =
  | { type: 'extension'; extension: FeatureExtension }
  | { type: 'voicemail'; extension: FeatureExtension }
  | { type: 'ring-group'; group: FeatureRingGroup }
  | { type: 'queue'; queue: FeatureQueue }
  | { type: 'ivr'; ivr: FeatureIvr }
  | { type: 'conference'; conference: FeatureConference }
  /** Dial out: `number` is E.164. */
  | { type: 'external'; number: string }
  | { type: 'feature'; feature: FeatureCodeName }
  | { type: 'hangup' }
  /** Nowhere to go: end the call with this SIP final status (404, 480, 482, 486) and reason. */
  | { type: 'reject'; status: number; reason: string };

/** A static hop taken on the way to the step (for events, CDRs and `calls tail`). */
export type ResolutionHop =
  | { type: 'route'; route: string; did?: string }
  | { type: 'schedule'; schedule: string; state: ScheduleStateName; name?: string; until?: Date }
  | { type: 'forward-always'; extension: string }
  | { type: 'do-not-disturb'; extension: string }
  /** The extension's busy / no-answer / unavailable forward, after Kamailio rang it (X-PBX-Forward). */
  | { type: 'forward'; extension: string; on: 'busy' | 'no-answer' | 'unavailable' };

/** A resolved step with how it was reached. */
export interface Resolution {
  step: ResolvedStep;
  /** Hops in the order taken. */
  hops: ResolutionHop[];
  /** The inbound route's callerIdPrefix, when the call came in on a DID that has one. */
  callerIdPrefix?: string;
}

/** Hops after which a chain is a loop (validation rejects loops; a mixed-release moment might not). */
const MAX_HOPS = 16;

const FEATURE_CODES: ReadonlySet<string> = new Set<FeatureCodeName>(['voicemail', 'voicemailAny', 'agentLogin', 'agentLogout', 'agentPause', 'dndToggle', 'echoTest']);

/** Where a `dest` from Kamailio points: a dial entry, or a scheduled inbound route. */
export type KamailioDest = DialEntry | { type: 'route'; id: string };

/** Parses Kamailio's `dest` value; undefined when it is none of the forms above. */
export function parseKamailioDest(text: string): KamailioDest | undefined {
  if (text.startsWith('route:')) return text.length > 6 ? { type: 'route', id: text.slice(6) } : undefined;
  if (text.startsWith('feature:')) {
    const name = text.slice(8);
    return FEATURE_CODES.has(name) ? { type: 'feature', feature: name as FeatureCodeName } : undefined;
  }
  return toFeatureDestination(text);
}

/** The inbound route of a DID as Kamailio may write it (with or without `+`). */
function inboundOf(config: FeatureConfig, dialed: string): { did: string; route: FeatureInboundRoute } | undefined {
  for (const did of [dialed, `+${dialed}`]) {
    const route = Object.hasOwn(config.inbound, did) ? config.inbound[did] : undefined;
    if (route) return { did, route };
  }
  return undefined;
}

const get = <T>(r: Record<string, T>, key: string): T | undefined => (Object.hasOwn(r, key) ? r[key] : undefined);

/**
 * Resolves a call as Kamailio handed it over. With `dest`, that decides; without, the dialled
 * number is looked up as Kamailio would: a feature number (`dial`), a DID (`inbound`), an extension.
 */
export function resolveRequest(config: FeatureConfig, request: DaemonRequest, clock: Clock): Resolution {
  const inbound = inboundOf(config, request.dialed);
  const prefix = inbound?.route.callerIdPrefix;
  const withPrefix = (r: Resolution): Resolution => (prefix !== undefined ? { ...r, callerIdPrefix: prefix } : r);
  const reject = (status: number, reason: string): Resolution => ({ step: { type: 'reject', status, reason }, hops: [] });

  let target: KamailioDest | undefined;
  if (request.dest !== undefined && request.dest !== '') {
    target = parseKamailioDest(request.dest);
    if (!target) return reject(404, `unknown destination ${JSON.stringify(request.dest)}`);
  } else {
    const dial = get(config.dial, request.dialed);
    if (dial) target = dial;
    else if (inbound) target = { type: 'route', id: inbound.route.route };
    else if (get(config.extensions, request.dialed)) target = { type: 'extension', number: request.dialed };
    else return reject(404, `nothing is reachable at ${request.dialed}`);
  }
  if (target.type === 'extension' && request.forward !== undefined) return withPrefix(resolveForward(config, target.number, request.forward, clock));
  if (target.type !== 'route') return withPrefix(resolveDestination(config, target, clock));

  const routeId = target.id;
  const found = inbound?.route.route === routeId ? inbound : Object.entries(config.inbound).map(([did, route]) => ({ did, route })).find((x) => x.route.route === routeId);
  if (!found) return reject(404, `inbound route ${routeId} is not in the daemon's config`);
  const hops: ResolutionHop[] = [{ type: 'route', route: routeId, did: found.did }];
  const r = found.route;
  let next: DialEntry;
  if ('destination' in r) {
    next = r.destination;
  } else {
    const schedule = get(config.schedules, r.schedule);
    if (!schedule) return { step: { type: 'reject', status: 404, reason: `schedule ${r.schedule} is not in the daemon's config` }, hops };
    const s = scheduleState(schedule, clock());
    hops.push({ type: 'schedule', schedule: r.schedule, state: s.state, ...(s.name !== undefined ? { name: s.name } : {}), ...(s.until ? { until: s.until } : {}) });
    next = r[s.state];
  }
  const rest = resolveDestination(config, next, clock, hops.length);
  return { step: rest.step, hops: [...hops, ...rest.hops], ...(r.callerIdPrefix !== undefined ? { callerIdPrefix: r.callerIdPrefix } : {}) };
}

/**
 * The forward of extension `number` that Kamailio says applies (it rang the extension, or found it
 * on DND / forwarded always / unregistered): the destination from the daemon's config, never the
 * extension itself again. `always` resolves the extension as any destination does (forward.always,
 * DND). Without that forward in this config (a release mismatch) the call ends as the extension's
 * own failure would: 486 for busy / DND, 480 otherwise.
 */
function resolveForward(config: FeatureConfig, number: string, why: KamailioForward, clock: Clock): Resolution {
  const extension = get(config.extensions, number);
  if (!extension) return { step: { type: 'reject', status: 404, reason: `extension ${number} is not in the daemon's config` }, hops: [] };
  if (why === 'always') return resolveDestination(config, { type: 'extension', number }, clock);
  const hop: ResolutionHop = why === 'dnd' ? { type: 'do-not-disturb', extension: number } : { type: 'forward', extension: number, on: why };
  const to = why === 'dnd' || why === 'busy' ? extension.forward.busy : why === 'no-answer' ? extension.forward.noAnswer : extension.forward.unavailable;
  if (!to) {
    const status = why === 'dnd' || why === 'busy' ? 486 : 480;
    return { step: { type: 'reject', status, reason: `extension ${number} has no forward for ${why}` }, hops: [hop] };
  }
  const rest = resolveDestination(config, to, clock, 1);
  return { step: rest.step, hops: [hop, ...rest.hops] };
}

/**
 * Resolves a destination (a flow's result: IVR option, fallback, overflow...) to a step, following
 * schedules, forward.always and do-not-disturb.
 * @param hopsSoFar hops already taken (loop detection across resolveRequest)
 */
export function resolveDestination(config: FeatureConfig, destination: DialEntry, clock: Clock, hopsSoFar = 0): Resolution {
  const hops: ResolutionHop[] = [];
  const done = (step: ResolvedStep): Resolution => ({ step, hops });
  const missing = (what: string) => done({ type: 'reject', status: 404, reason: `${what} is not in the daemon's config` });
  let d = destination;
  let now: Date | undefined; // one instant for the whole chain, read only if a schedule is met
  for (;;) {
    if (hops.length + hopsSoFar > MAX_HOPS) return done({ type: 'reject', status: 482, reason: `destination loop after ${destinationText(destination)}` });
    switch (d.type) {
      case 'hangup':
        return done({ type: 'hangup' });
      case 'external':
        return done({ type: 'external', number: d.number });
      case 'feature':
        return done({ type: 'feature', feature: d.feature });
      case 'ring-group': {
        const group = get(config.ringGroups, d.id);
        return group ? done({ type: 'ring-group', group }) : missing(`ring group ${d.id}`);
      }
      case 'queue': {
        const queue = get(config.queues, d.id);
        return queue ? done({ type: 'queue', queue }) : missing(`queue ${d.id}`);
      }
      case 'ivr': {
        const ivr = get(config.ivrs, d.id);
        return ivr ? done({ type: 'ivr', ivr }) : missing(`IVR ${d.id}`);
      }
      case 'conference': {
        const conference = get(config.conferences, d.id);
        return conference ? done({ type: 'conference', conference }) : missing(`conference ${d.id}`);
      }
      case 'voicemail': {
        const extension = get(config.extensions, d.mailbox);
        if (!extension) return missing(`voicemail box ${d.mailbox}`);
        if (!extension.voicemail) return done({ type: 'reject', status: 480, reason: `voicemail box ${d.mailbox} is disabled` });
        return done({ type: 'voicemail', extension });
      }
      case 'schedule': {
        const schedule = get(config.schedules, d.id);
        if (!schedule) return missing(`schedule ${d.id}`);
        if (!schedule.open || !schedule.closed) return done({ type: 'reject', status: 404, reason: `schedule ${d.id} has no open/closed destinations` });
        const s = scheduleState(schedule, (now ??= clock()));
        hops.push({ type: 'schedule', schedule: d.id, state: s.state, ...(s.name !== undefined ? { name: s.name } : {}), ...(s.until ? { until: s.until } : {}) });
        d = (s.state === 'holiday' ? schedule.holiday : undefined) ?? (s.state === 'open' ? schedule.open : schedule.closed);
        continue;
      }
      case 'extension': {
        const extension = get(config.extensions, d.number);
        if (!extension) return missing(`extension ${d.number}`);
        if (extension.forward.always) {
          hops.push({ type: 'forward-always', extension: d.number });
          d = extension.forward.always;
          continue;
        }
        if (extension.doNotDisturb) {
          hops.push({ type: 'do-not-disturb', extension: d.number });
          if (!extension.forward.busy) return done({ type: 'reject', status: 486, reason: `extension ${d.number} is on do-not-disturb` });
          d = extension.forward.busy;
          continue;
        }
        return done({ type: 'extension', extension });
      }
    }
  }
}
