/**
 * Synthetic repo generator for benchmarks:
 *
 *   npm run bench:generate -- --extensions N --out DIR [--seed S] [--force]
 *
 * Writes a repo that `pbxctl validate DIR --strict` accepts with zero errors and zero warnings:
 * N extensions (100 documents per file), N/50 ring groups, N/100 queues, N/200 IVRs, N/100 DIDs
 * on inbound routes (some by schedule), schedules in several time zones, two trunks (registration
 * and IP auth), non-shadowing outbound routes (emergency, national, international), music on hold
 * with a generated WAV file, conferences, voicemail settings, a webhook, and `.secrets.yaml` with
 * every secret referenced. Output is a pure function of (N, seed).
 *
 * Call flows are acyclic by construction: continuation edges only go
 * IVR -> ring group -> queue -> voicemail/hangup, schedule -> queue/voicemail, and
 * extensions forward only to voicemail or external numbers.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';

/** Largest N the number plan holds (6-digit extensions 100000-199999). */
export const MAX_EXTENSIONS = 100_000;

/** Name of the marker file a generated repo carries (a dot-file, so validation skips it). */
export const MARKER = '.bench-generated.json';

export interface GenerateOptions {
  extensions: number;
  out: string;
  seed: string;
  /** Replace `out` when it holds a previously generated repo. */
  force?: boolean;
}

export interface GenerateSummary {
  out: string;
  extensions: number;
  seed: string;
  counts: Record<string, number>;
  files: number;
  bytes: number;
  ms: number;
}

/** The marker's content: what produced the repo (run.ts regenerates when it differs). */
export interface Marker {
  generator: 'bench/generate.ts';
  version: number;
  extensions: number;
  seed: string;
}

/** Bump when the generated content changes, so cached repos in bench/out are regenerated. */
export const GENERATOR_VERSION = 3;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness: a 32-bit string hash seeding mulberry32.

function hashSeed(seed: string): number {
  let h = 2166136261 >>> 0; // FNV-1a
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h;
}

class Rng {
  private state: number;

  constructor(seed: string) {
    this.state = hashSeed(seed);
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.next() * list.length)]!;
  }

  /** `k` distinct elements of `list` (k clamped to its length), in random order. */
  sample<T>(list: readonly T[], k: number): T[] {
    const n = Math.min(k, list.length);
    const chosen = new Set<number>();
    const out: T[] = [];
    while (out.length < n) {
      const i = Math.floor(this.next() * list.length);
      if (chosen.has(i)) continue;
      chosen.add(i);
      out.push(list[i]!);
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Fixed vocabulary.

const FIRST = ['Alice', 'Bob', 'Carla', 'Dmitri', 'Elena', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kemal', 'Lena', 'Marco', 'Nadia', 'Omar', 'Priya', 'Quinn', 'Rosa', 'Sven', 'Tara', 'Umar', 'Vera', 'Wei', 'Ximena', 'Yusuf', 'Zoe'];
const LAST = ['Anders', 'Becker', 'Chen', 'Dubois', 'Evans', 'Fischer', 'Garcia', 'Haddad', 'Ito', 'Jensen', 'Kowalski', 'Lopez', 'Mueller', 'Nakamura', 'Okafor', 'Petrov', 'Quist', 'Rossi', 'Silva', 'Tanaka', 'Ulrich', 'Varga', 'Walsh', 'Xu', 'Yilmaz', 'Zimmer'];
const TEAMS = ['Sales', 'Support', 'Billing', 'Dispatch', 'Front Desk', 'Logistics', 'Claims', 'Onboarding', 'Renewals', 'Field Service', 'Returns', 'Partners'];
const VENDORS: readonly { vendor: string; model: string }[] = [
  { vendor: 'yealink', model: 'T54W' }, { vendor: 'polycom', model: 'VVX 450' }, { vendor: 'grandstream', model: 'GRP2614' },
  { vendor: 'snom', model: 'D785' }, { vendor: 'cisco', model: 'CP-8841' },
];
const RING_STRATEGIES = ['simultaneous', 'sequential', 'round-robin', 'random', 'least-recent'] as const;
const QUEUE_STRATEGIES = ['ring-all', 'round-robin', 'least-recent', 'fewest-calls', 'random', 'priority'] as const;
const CLASSES = ['internal', 'local', 'national', 'international'] as const;

// Number plan: disjoint 6-digit blocks, sized for MAX_EXTENSIONS.
const EXT_BASE = 100000;
const RG_BASE = 200000;
const QUEUE_BASE = 210000;
const IVR_BASE = 220000;
const CONF_BASE = 230000;
const NUMBER_PLAN = {
  extensions: ['100000-199999'],
  ringGroups: ['200000-209999'],
  queues: ['210000-219999'],
  ivrs: ['220000-229999'],
  conferences: ['230000-230999'],
};

const pad = (n: number, width: number) => String(n).padStart(width, '0');

// ---------------------------------------------------------------------------------------------
// Audio: a valid RIFF/WAVE file, 8 kHz mono 16-bit PCM.

/** A `seconds`-long two-tone chime (440 Hz then 660 Hz) with short fades, as WAV bytes. */
export function makeWav(seconds = 1, sampleRate = 8000): Buffer {
  const samples = Math.round(seconds * sampleRate);
  const dataBytes = samples * 2;
  const buf = Buffer.alloc(44 + dataBytes);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write('WAVE', 8, 'ascii');
  buf.write('fmt ', 12, 'ascii');
  buf.writeUInt32LE(16, 16); // fmt chunk size
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(sampleRate, 24);
  buf.writeUInt32LE(sampleRate * 2, 28); // byte rate = rate * channels * bytes per sample
  buf.writeUInt16LE(2, 32); // block align
  buf.writeUInt16LE(16, 34); // bits per sample
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(dataBytes, 40);
  const fade = Math.round(sampleRate * 0.02);
  for (let i = 0; i < samples; i++) {
    const freq = i < samples / 2 ? 440 : 660;
    const env = Math.min(1, i / fade, (samples - 1 - i) / fade);
    const v = Math.round(Math.sin((2 * Math.PI * freq * i) / sampleRate) * 0.3 * 32767 * env);
    buf.writeInt16LE(v, 44 + i * 2);
  }
  return buf;
}

// ---------------------------------------------------------------------------------------------
// The generator.

type Doc = Record<string, unknown>;

interface Ext {
  number: string;
  voicemail: boolean;
}

/** Builds every file of the repo in memory: repo-relative path -> content. */
export function buildRepo(n: number, seed: string): { files: Map<string, string | Buffer>; counts: Record<string, number> } {
  if (!Number.isInteger(n) || n < 1 || n > MAX_EXTENSIONS) throw new Error(`--extensions must be an integer from 1 to ${MAX_EXTENSIONS}`);
  const rng = new Rng(seed);
  const files = new Map<string, string | Buffer>();
  const secrets: Record<string, string> = {};
  const secret = (name: string, value: string) => {
    secrets[name] = value;
    return `\${secret:${name}}`;
  };
  const password = () => {
    const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
    let s = '';
    for (let i = 0; i < 20; i++) s += alphabet[Math.floor(rng.next() * alphabet.length)];
    return s;
  };
  const pin = () => String(rng.int(1000, 999999));
  const header = `# Generated by bench/generate.ts (extensions: ${n}, seed: ${seed}). Do not edit.\n`;
  const writeDocs = (path: string, docs: Doc[]) => {
    files.set(path, header + docs.map((d) => stringify(d, { lineWidth: 0 })).join('---\n'));
  };

  const nRingGroups = Math.max(1, Math.floor(n / 50));
  const nQueues = Math.max(1, Math.floor(n / 100));
  const nIvrs = Math.max(1, Math.floor(n / 200));
  const nDids = Math.max(1, Math.floor(n / 100));

  // --- Extensions -----------------------------------------------------------------------------
  const exts: Ext[] = [];
  const extDocs: Doc[] = [];
  for (let i = 0; i < n; i++) {
    const number = String(EXT_BASE + i);
    const first = rng.pick(FIRST);
    const last = rng.pick(LAST);
    const doc: Doc = { kind: 'Extension', number, name: `${first} ${last}` };
    if (rng.chance(0.8)) doc.email = `${first}.${last}.${number}@example.com`.toLowerCase();
    doc.password = secret(`ext-${number}-password`, password());
    let voicemail = true;
    const vmRoll = rng.next();
    if (vmRoll < 0.1) {
      voicemail = false;
      doc.voicemail = { enabled: false };
    } else if (vmRoll < 0.4) {
      doc.voicemail = { pin: secret(`ext-${number}-vm-pin`, pin()), attachAudio: rng.chance(0.7) };
    }
    const forward: Doc = {};
    if (voicemail && rng.chance(0.3)) forward.noAnswer = `voicemail:${number}`;
    if (voicemail && rng.chance(0.15)) forward.busy = `voicemail:${number}`;
    if (rng.chance(0.05)) forward.unavailable = `external:+1312${pad(rng.int(2000000, 9999999), 7)}`;
    if (Object.keys(forward).length) doc.forward = forward;
    if (forward.noAnswer && rng.chance(0.5)) doc.noAnswerTimeout = rng.pick([15, 20, 25, 30]);
    const clsRoll = rng.next();
    if (clsRoll < 0.6) doc.outboundClass = 'national';
    else if (clsRoll < 0.75) doc.outboundClass = 'internal';
    else if (clsRoll < 0.85) doc.outboundClass = 'international';
    else if (clsRoll < 0.9) doc.outboundClass = 'local';
    if (rng.chance(0.15)) doc.callerId = { external: { name: `${first} ${last}`, number: `+1312555${pad(rng.int(0, 9999), 4)}` } };
    if (rng.chance(0.02)) doc.maxContacts = rng.int(1, 5);
    if (rng.chance(0.2)) {
      const mac = (i + 1).toString(16).padStart(6, '0');
      const dev = rng.pick(VENDORS);
      doc.device = { mac: `00:15:65:${mac.slice(0, 2)}:${mac.slice(2, 4)}:${mac.slice(4, 6)}`, vendor: dev.vendor, model: dev.model };
    }
    exts.push({ number, voicemail });
    extDocs.push(doc);
  }
  const perFile = 100;
  for (let f = 0; f * perFile < n; f++) writeDocs(`extensions/ext-${pad(f + 1, 4)}.yaml`, extDocs.slice(f * perFile, (f + 1) * perFile));
  const withVm = exts.filter((e) => e.voicemail);
  const vmOf = (members: readonly Ext[]) => members.find((e) => e.voicemail) ?? rng.pick(withVm.length ? withVm : exts);
  const terminal = (members: readonly Ext[]) => {
    const e = vmOf(members);
    return e.voicemail ? `voicemail:${e.number}` : 'hangup';
  };

  // --- Queues (overflow to voicemail/hangup only: the end of every continuation chain) -------
  const queueIds: string[] = [];
  const queueDocs: Doc[] = [];
  for (let i = 0; i < nQueues; i++) {
    const id = `q-${pad(i + 1, 4)}`;
    queueIds.push(id);
    const team = TEAMS[i % TEAMS.length]!;
    const strategy = QUEUE_STRATEGIES[i % QUEUE_STRATEGIES.length]!;
    const agents = rng.sample(exts, rng.int(10, 20));
    const doc: Doc = {
      kind: 'Queue', id, number: String(QUEUE_BASE + i), name: `${team} queue ${i + 1}`, strategy,
      agents: agents.map((a) => ({ extension: a.number, penalty: strategy === 'priority' ? rng.int(0, 3) : rng.pick([0, 0, 0, 1, 2]) })),
      maxWait: rng.pick([120, 300, 600, 900]),
      maxCallers: rng.pick([0, 20, 50]),
      joinEmpty: rng.chance(0.2),
      leaveWhenEmpty: rng.chance(0.8),
      overflow: rng.chance(0.85) ? terminal(agents) : 'hangup',
      agentRingTimeout: rng.pick([10, 15, 20]),
      wrapUp: rng.pick([0, 5, 10, 30]),
      priority: rng.int(0, 5),
      announcements: { position: true, holdTime: rng.chance(0.5), interval: rng.pick([30, 60, 90]), join: { text: `Thank you for calling ${team}. Your call is important to us.` } },
    };
    if (rng.chance(0.5)) doc.musicOnHold = rng.pick(['default', 'calm']);
    queueDocs.push(doc);
  }
  writeDocs('queues/queues.yaml', queueDocs);

  // --- Ring groups (fallback to a queue or voicemail/hangup) ----------------------------------
  const rgIds: string[] = [];
  const rgDocs: Doc[] = [];
  for (let i = 0; i < nRingGroups; i++) {
    const id = `rg-${pad(i + 1, 4)}`;
    rgIds.push(id);
    const team = TEAMS[(i + 3) % TEAMS.length]!;
    const members = rng.sample(exts, rng.int(5, 10));
    const doc: Doc = {
      kind: 'RingGroup', id, number: String(RG_BASE + i), name: `${team} group ${i + 1}`,
      strategy: RING_STRATEGIES[i % RING_STRATEGIES.length]!,
      members: members.map((m) => (rng.chance(0.1) ? { extension: m.number, ringTimeout: rng.pick([10, 15, 25]) } : { extension: m.number })),
    };
    if (rng.chance(0.1)) (doc.members as Doc[]).push({ external: `+1312${pad(rng.int(2000000, 9999999), 7)}` });
    if (rng.chance(0.5)) doc.ringTimeout = rng.pick([15, 20, 25]);
    if (rng.chance(0.5)) doc.totalTimeout = rng.pick([45, 60, 90]);
    const fb = rng.next();
    doc.fallback = fb < 0.4 ? `queue:${rng.pick(queueIds)}` : fb < 0.9 ? terminal(members) : 'hangup';
    if (rng.chance(0.3)) doc.callerIdPrefix = `${team.slice(0, 12)}: `;
    rgDocs.push(doc);
  }
  for (let f = 0; f * 100 < rgDocs.length; f++) writeDocs(`ring-groups/rg-${pad(f + 1, 3)}.yaml`, rgDocs.slice(f * 100, (f + 1) * 100));

  // --- Schedules -------------------------------------------------------------------------------
  // DID blocks first: how many inbound routes use a schedule decides how many zone schedules exist
  // (an unused schedule is an `unreachable` warning).
  const didBlocks: string[][] = [];
  for (let did = 0; did < nDids;) {
    const take = Math.min(nDids - did, rng.int(1, 3));
    didBlocks.push(Array.from({ length: take }, (_, k) => `+1312555${pad(did + k, 4)}`));
    did += take;
  }
  // Every third route (or the only one) is routed by schedule.
  const byScheduleRoute = (r: number) => r % 3 === 1 || didBlocks.length === 1;
  const scheduledRoutes = didBlocks.filter((_, r) => byScheduleRoute(r)).length;
  const zoneSchedules: Doc[] = [
    {
      kind: 'Schedule', id: 'hq-new-york', name: 'Headquarters (New York)', timezone: 'America/New_York',
      hours: [
        { days: ['mon', 'tue', 'wed', 'thu', 'fri'], open: '08:00', close: '12:00' },
        { days: ['mon', 'tue', 'wed', 'thu', 'fri'], open: '13:00', close: '18:00' },
        { days: ['sat'], open: '09:00', close: '13:00' },
      ],
      holidays: [
        { name: 'Christmas Day', yearly: '12-25' },
        { name: "New Year's Day", yearly: '01-01' },
        { name: 'Thanksgiving 2026', date: '2026-11-26' },
        { name: 'Winter shutdown', from: '2026-12-28', to: '2026-12-31' },
      ],
      overrides: [
        { date: '2026-12-24', name: 'Christmas Eve', open: '08:00', close: '12:00' },
        { date: '2026-07-03', name: 'Independence Day (observed)', closed: true },
      ],
    },
    {
      kind: 'Schedule', id: 'emea-berlin', name: 'EMEA (Berlin)', timezone: 'Europe/Berlin',
      hours: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], open: '09:00', close: '17:30' }],
      holidays: [
        { name: 'Tag der Deutschen Einheit', yearly: '10-03' },
        { name: 'Tag der Arbeit', yearly: '05-01' },
        { name: 'Ostern 2026', from: '2026-04-03', to: '2026-04-06' },
      ],
    },
    {
      kind: 'Schedule', id: 'apac-tokyo', name: 'APAC (Tokyo)', timezone: 'Asia/Tokyo',
      hours: [
        { days: ['mon', 'tue', 'wed', 'thu', 'fri'], open: '09:00', close: '18:00' },
        { days: ['sat', 'sun'], open: '20:00', close: '24:00' },
      ],
      holidays: [{ name: 'Golden Week', from: '2026-04-29', to: '2026-05-05' }],
      overrides: [{ date: '2026-12-31', closed: true }],
    },
  ];
  const usedZoneSchedules = zoneSchedules.slice(0, Math.min(zoneSchedules.length, scheduledRoutes));
  const supportQueue = queueIds[0]!;
  const supportVm = rng.pick(withVm.length ? withVm : exts);
  const destSchedule: Doc = {
    kind: 'Schedule', id: 'support-hours', name: 'Support line hours (Los Angeles)', timezone: 'America/Los_Angeles',
    hours: [
      { days: ['mon', 'tue', 'wed', 'thu', 'fri'], open: '06:00', close: '20:00' },
      { days: ['sat', 'sun'], open: '08:00', close: '16:00' },
    ],
    holidays: [{ name: 'Christmas Day', yearly: '12-25' }],
    open: `queue:${supportQueue}`,
    closed: supportVm.voicemail ? `voicemail:${supportVm.number}` : 'hangup',
    holiday: 'hangup',
  };
  usedZoneSchedules.forEach((s) => writeDocs(`schedules/${s.id as string}.yaml`, [s]));
  writeDocs('schedules/support-hours.yaml', [destSchedule]);

  // --- IVRs: a tree (root is numbered; IVR i's submenus are 3i+1..3i+3 on keys 3-5) ----------
  const ivrIds: string[] = [];
  for (let i = 0; i < nIvrs; i++) ivrIds.push(`ivr-${pad(i + 1, 3)}`);
  const ivrDocs: Doc[] = ivrIds.map((id, i) => {
    const team = TEAMS[i % TEAMS.length]!;
    const options: Record<string, string> = {
      '1': `ring-group:${rng.pick(rgIds)}`,
      '2': `queue:${rng.pick(queueIds)}`,
    };
    for (let c = 0; c < 3; c++) {
      const child = 3 * i + 1 + c;
      if (child < nIvrs) options[String(3 + c)] = `ivr:${ivrIds[child]!}`;
    }
    if (i === 0) options['8'] = 'schedule:support-hours';
    if (i > 0) options['9'] = `ivr:${ivrIds[Math.floor((i - 1) / 3)]!}`; // back to the parent menu
    options['0'] = `extension:${rng.pick(exts).number}`;
    options['*'] = `ivr:${id}`; // repeat
    const doc: Doc = { kind: 'IVR', id };
    if (i === 0 || rng.chance(0.3)) doc.number = String(IVR_BASE + i);
    Object.assign(doc, {
      name: i === 0 ? 'Main menu' : `${team} menu ${i + 1}`,
      greeting: { text: `Welcome to ${team}. For the team, press 1. To wait for the next agent, press 2. For the operator, press 0. To hear this again, press star.`, voice: rng.pick(['en-us', 'en-gb']) },
      options,
      timeout: rng.int(3, 8),
      retries: rng.int(1, 3),
      invalidPrompt: { text: 'Sorry, that is not a valid choice.' },
      timeoutDestination: `ring-group:${rng.pick(rgIds)}`,
      invalidDestination: 'hangup',
      directDial: false,
    });
    return doc;
  });
  writeDocs('ivrs/ivrs.yaml', ivrDocs);

  // --- Inbound routes: 1-3 DIDs each; scheduled ones cycle through the zone schedules ---------
  const routeDocs: Doc[] = didBlocks.map((dids, r) => {
    const doc: Doc = { kind: 'InboundRoute', id: `did-${pad(r + 1, 4)}`, name: `DID block ${r + 1}`, dids };
    const trunkRoll = rng.next();
    if (trunkRoll < 0.4) doc.trunk = 'carrier-a';
    else if (trunkRoll < 0.6) doc.trunk = 'carrier-b';
    if (byScheduleRoute(r)) {
      const s = usedZoneSchedules[Math.floor(r / 3) % usedZoneSchedules.length]!;
      Object.assign(doc, { schedule: s.id, open: `ivr:${r === 0 ? ivrIds[0]! : rng.pick(ivrIds)}`, closed: terminal([rng.pick(exts)]) });
      if (rng.chance(0.5)) doc.holiday = 'hangup';
    } else if (r === 0) {
      doc.destination = `ivr:${ivrIds[0]!}`;
    } else {
      const kind = rng.next();
      doc.destination = kind < 0.35 ? `ivr:${rng.pick(ivrIds)}` : kind < 0.6 ? `queue:${rng.pick(queueIds)}` : kind < 0.85 ? `ring-group:${rng.pick(rgIds)}` : `extension:${rng.pick(exts).number}`;
    }
    if (rng.chance(0.3)) doc.callerIdPrefix = `DID${r + 1}: `;
    return doc;
  });
  for (let f = 0; f * 100 < routeDocs.length; f++) writeDocs(`inbound-routes/routes-${pad(f + 1, 3)}.yaml`, routeDocs.slice(f * 100, (f + 1) * 100));

  // --- Trunks and outbound routes --------------------------------------------------------------
  writeDocs('trunks/carrier-a.yaml', [{
    kind: 'Trunk', id: 'carrier-a', name: 'Carrier A (registration)',
    hosts: [{ host: 'sip.carrier-a.example.net', port: 5060, transport: 'udp' }, { host: 'sip2.carrier-a.example.net', port: 5061, transport: 'tls', priority: 10 }],
    auth: { type: 'registration', username: 'bench-pbx', password: secret('trunk-carrier-a-password', password()), realm: 'carrier-a.example.net', expiry: 600 },
    codecs: ['PCMU', 'PCMA'],
    maxChannels: 200,
    callerId: { name: 'Bench Corp', number: '+13125550000' },
    numberFormat: { country: '1', nationalPrefix: '1', internationalPrefix: '011', inbound: 'auto', outbound: 'e164' },
  }]);
  writeDocs('trunks/carrier-b.yaml', [{
    kind: 'Trunk', id: 'carrier-b', name: 'Carrier B (IP authenticated)',
    hosts: [{ host: '198.51.100.10', weight: 50 }, { host: '198.51.100.11', weight: 50 }, { host: '198.51.100.140', priority: 10 }],
    auth: { type: 'ip', addresses: ['198.51.100.0/28', '198.51.100.128/28'] },
    codecs: ['PCMU', 'G722'],
    maxChannels: 500,
    numberFormat: { country: '1', nationalPrefix: '1', internationalPrefix: '011', inbound: 'national', outbound: 'e164-no-plus' },
  }]);
  writeDocs('outbound-routes/emergency.yaml', [{
    kind: 'OutboundRoute', id: 'emergency', name: 'Emergency services', priority: 0, emergency: true,
    patterns: ['911', '933'], trunks: ['carrier-b', 'carrier-a'],
  }]);
  writeDocs('outbound-routes/national.yaml', [
    { kind: 'OutboundRoute', id: 'nanp-10-digit', name: 'NANP, 10 digits', priority: 10, patterns: ['_NXXNXXXXXX'], prepend: '+1', trunks: ['carrier-a', 'carrier-b'], classes: ['national', 'international'] },
    { kind: 'OutboundRoute', id: 'nanp-11-digit', name: 'NANP, 1 + 10 digits', priority: 11, patterns: ['_1NXXNXXXXXX'], prepend: '+', trunks: ['carrier-a', 'carrier-b'], classes: ['national', 'international'] },
    { kind: 'OutboundRoute', id: 'nanp-e164', name: 'NANP, E.164', priority: 12, patterns: ['_+1NXXNXXXXXX'], trunks: ['carrier-a', 'carrier-b'], classes: ['national', 'international'] },
  ]);
  writeDocs('outbound-routes/international.yaml', [
    { kind: 'OutboundRoute', id: 'international', name: 'International, 011 prefix', priority: 20, patterns: ['_011.'], strip: 3, prepend: '+', trunks: ['carrier-b', 'carrier-a'], classes: ['international'] },
    { kind: 'OutboundRoute', id: 'international-e164', name: 'International, E.164', priority: 21, patterns: ['_+[2-9].'], trunks: ['carrier-b', 'carrier-a'], classes: ['international'] },
  ]);

  // --- Music on hold, conferences, voicemail, webhook ------------------------------------------
  files.set('moh/chime.wav', makeWav(1));
  files.set('moh/chime-long.wav', makeWav(2));
  writeDocs('music-on-hold/classes.yaml', [
    { kind: 'MusicOnHold', id: 'default', name: 'Default hold music', files: ['moh/chime.wav', 'moh/chime-long.wav'], order: 'sequential' },
    { kind: 'MusicOnHold', id: 'calm', name: 'Calm', files: ['moh/chime-long.wav'], order: 'random' },
  ]);
  writeDocs('conferences/conferences.yaml', [
    { kind: 'Conference', id: 'all-hands', number: String(CONF_BASE), name: 'All hands', pin: secret('conf-all-hands-pin', pin()), maxMembers: 200, musicOnHold: 'default', announceJoinLeave: false },
    { kind: 'Conference', id: 'team-bridge', number: String(CONF_BASE + 1), name: 'Team bridge', maxMembers: 20 },
  ]);
  writeDocs('voicemail/settings.yaml', [{
    kind: 'VoicemailSettings', maxMessageLength: 180, maxMessages: 100, retentionDays: 90,
    greeting: { text: 'The person you are calling is not available. Please leave a message after the tone.' },
    email: { from: 'voicemail@bench.example.com', smtp: { host: 'smtp.example.com', port: 587, secure: 'starttls', username: 'voicemail', password: secret('smtp-password', password()) } },
  }]);
  writeDocs('webhooks/crm.yaml', [{
    kind: 'Webhook', id: 'crm', url: 'https://crm.example.com/pbx/events',
    events: ['call.started', 'call.ended', 'voicemail.new', 'queue.abandoned'], secret: secret('webhook-crm-secret', password()),
  }]);

  // --- pbx.yaml and secrets --------------------------------------------------------------------
  files.set('pbx.yaml', header + stringify({
    name: `bench-${n}`,
    domain: 'pbx.bench.example.com',
    numberPlan: NUMBER_PLAN,
    defaults: { ringTimeout: 20, voicemail: true, codecs: ['PCMU', 'PCMA', 'G722'], timezone: 'America/New_York', outboundClass: 'national', maxContacts: 3, musicOnHold: 'default' },
    permissionClasses: [...CLASSES],
    // No dir: a node named lab without one is the lab node (pbxctl lab up), which the plan/apply benchmarks use.
    nodes: [{ name: 'lab', type: 'local' }],
    secrets: { file: '.secrets.yaml', envPrefix: 'PBXCTL_SECRET_' },
  }, { lineWidth: 0 }));
  files.set('.secrets.yaml', header + stringify(secrets, { lineWidth: 0 }));
  files.set('.gitignore', '.secrets.yaml\n');

  const counts = {
    extensions: n, ringGroups: nRingGroups, queues: nQueues, ivrs: nIvrs, dids: nDids, inboundRoutes: routeDocs.length,
    schedules: usedZoneSchedules.length + 1, trunks: 2, outboundRoutes: 6, musicOnHold: 2, conferences: 2, secrets: Object.keys(secrets).length,
  };
  return { files, counts };
}

/** Generates the repo on disk. */
export function generateRepo(opts: GenerateOptions): GenerateSummary {
  const t0 = performance.now();
  const out = resolve(opts.out);
  if (existsSync(out) && readdirSync(out).length > 0) {
    if (!existsSync(join(out, MARKER))) throw new Error(`${opts.out} exists and is not empty (and was not made by this generator); choose another --out`);
    if (!opts.force) throw new Error(`${opts.out} already holds a generated repo; pass --force to replace it`);
    rmSync(out, { recursive: true });
  }
  const { files, counts } = buildRepo(opts.extensions, opts.seed);
  let bytes = 0;
  const dirs = new Set<string>();
  for (const [rel, content] of files) {
    const abs = join(out, rel);
    const dir = abs.slice(0, abs.lastIndexOf('/'));
    if (!dirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      dirs.add(dir);
    }
    writeFileSync(abs, content);
    bytes += typeof content === 'string' ? Buffer.byteLength(content) : content.length;
  }
  const marker: Marker = { generator: 'bench/generate.ts', version: GENERATOR_VERSION, extensions: opts.extensions, seed: opts.seed };
  writeFileSync(join(out, MARKER), `${JSON.stringify(marker)}\n`);
  return { out, extensions: opts.extensions, seed: opts.seed, counts, files: files.size + 1, bytes, ms: performance.now() - t0 };
}

const USAGE = `Usage: npm run bench:generate -- --extensions N --out DIR [--seed S] [--force]

  -n, --extensions N   extensions to generate (1-${MAX_EXTENSIONS})
  -o, --out DIR        output directory (created; must be empty or a generated repo with --force)
  -s, --seed S         PRNG seed (default 1); same N and seed give the same repo
  -f, --force          replace DIR when it holds a previously generated repo`;

function main(): void {
  const { values } = parseArgs({
    options: {
      extensions: { type: 'string', short: 'n' },
      out: { type: 'string', short: 'o' },
      seed: { type: 'string', short: 's', default: '1' },
      force: { type: 'boolean', short: 'f', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const n = Number(values.extensions);
  if (!values.extensions || !Number.isInteger(n) || n < 1 || n > MAX_EXTENSIONS || !values.out) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  const s = generateRepo({ extensions: n, out: values.out, seed: values.seed, force: values.force });
  const counts = Object.entries(s.counts).map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(`wrote ${s.out}: ${s.files} files, ${(s.bytes / 1048576).toFixed(1)} MiB in ${Math.round(s.ms)} ms`);
  console.log(`  ${counts}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    main();
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
