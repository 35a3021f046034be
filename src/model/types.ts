/**
 * The desired state of a PBX: the typed, normalized model that validation produces from a repo.
 * Pure data. Field meanings, units and defaults are documented in the JSON Schemas (schemas/*.schema.json);
 * these types mirror them after normalization (numbers as digit strings, defaults not yet applied).
 * Durations are whole seconds; public numbers are E.164 strings ("+15551234567").
 */
import type { SourcePosition } from '../lib/diagnostics.js';

/** A secret reference as written: `${secret:NAME}` or `${env:NAME}`. */
export type SecretRef = string;

/** A destination as written, e.g. `queue:support`; see model/destination.ts. */
export type DestinationRef = string;

/** Where a resource was defined; every resource in the model carries one for diagnostics. */
export interface Sourced {
  source: SourcePosition;
}

export interface Prompt {
  file?: string;
  text?: string;
  voice?: string;
}

export interface NodeSpec {
  name: string;
  type: 'local' | 'ssh';
  sipAddress?: string;
  dir?: string;
  host?: string;
  port?: number;
  user?: string;
  identityFile?: string;
  knownHosts?: string;
  rpcPort?: number;
  /** ssh: first port of a lab-style port block (src/lab/ports.ts) for every service of the node; default: production ports (src/targets/ssh-node.ts). */
  portBase?: number;
  /** The feature daemon's HTTP API port on the node's 127.0.0.1 (reached through an SSH tunnel for ssh nodes). */
  daemonApiPort?: number;
  /** ssh: the daemon API's token file on the node; default DIR/etc/daemon.token. */
  daemonTokenFile?: string;
  /** ssh: the user the node's services run as (created by `pbxctl node bootstrap`); default pbxctl. */
  serviceUser?: string;
}

export type FeatureCodeName =
  | 'voicemail'
  | 'voicemailAny'
  | 'agentLogin'
  | 'agentLogout'
  | 'agentPause'
  | 'dndToggle'
  | 'echoTest';

export interface PbxConfig extends Sourced {
  name: string;
  domain: string;
  numberPlan: {
    extensions: string[];
    ringGroups?: string[];
    queues?: string[];
    ivrs?: string[];
    conferences?: string[];
    featureCodes?: Partial<Record<FeatureCodeName, string>>;
  };
  defaults?: {
    ringTimeout?: number;
    voicemail?: boolean;
    codecs?: string[];
    timezone?: string;
    outboundClass?: string;
    maxContacts?: number;
    musicOnHold?: string;
    /** Days the daemon keeps CDRs (docs/cdr.md); the daemon's default (365) when unset. */
    cdrRetentionDays?: number;
  };
  permissionClasses?: string[];
  nodes: NodeSpec[];
  secrets?: { file?: string; envPrefix?: string };
}

export interface Extension extends Sourced {
  kind: 'Extension';
  number: string;
  name: string;
  email?: string;
  password: SecretRef;
  callerId?: { internal?: { name?: string }; external?: { name?: string; number?: string } };
  voicemail?: { enabled?: boolean; pin?: SecretRef; email?: string; attachAudio?: boolean };
  forward?: { always?: DestinationRef; busy?: DestinationRef; noAnswer?: DestinationRef; unavailable?: DestinationRef };
  noAnswerTimeout?: number;
  doNotDisturb?: boolean;
  outboundClass?: string;
  maxContacts?: number;
  device?: { mac: string; vendor?: string; model?: string };
}

export interface RingGroupMember {
  extension?: string;
  external?: string;
  ringTimeout?: number;
}

export interface RingGroup extends Sourced {
  kind: 'RingGroup';
  id: string;
  number?: string;
  name?: string;
  strategy: 'simultaneous' | 'sequential' | 'round-robin' | 'random' | 'least-recent';
  members: RingGroupMember[];
  ringTimeout?: number;
  totalTimeout?: number;
  fallback?: DestinationRef;
  callerIdPrefix?: string;
}

export interface Queue extends Sourced {
  kind: 'Queue';
  id: string;
  number?: string;
  name?: string;
  strategy: 'ring-all' | 'round-robin' | 'least-recent' | 'fewest-calls' | 'random' | 'priority';
  agents: { extension: string; penalty?: number }[];
  maxWait?: number;
  maxCallers?: number;
  joinEmpty?: boolean;
  leaveWhenEmpty?: boolean;
  overflow?: DestinationRef;
  agentRingTimeout?: number;
  wrapUp?: number;
  musicOnHold?: string;
  priority?: number;
  announcements?: { position?: boolean; holdTime?: boolean; interval?: number; join?: Prompt };
}

export interface Ivr extends Sourced {
  kind: 'IVR';
  id: string;
  number?: string;
  name?: string;
  greeting: Prompt;
  /** Digit ('0'-'9', '*', '#') to destination. */
  options: Record<string, DestinationRef>;
  timeout?: number;
  retries?: number;
  invalidPrompt?: Prompt;
  timeoutPrompt?: Prompt;
  invalidDestination?: DestinationRef;
  timeoutDestination?: DestinationRef;
  directDial?: boolean;
}

export interface TrunkHost {
  host: string;
  port?: number;
  transport?: 'udp' | 'tcp' | 'tls';
  priority?: number;
  weight?: number;
}

export type TrunkAuth =
  | { type: 'registration'; username: string; password: SecretRef; realm?: string; expiry?: number }
  | { type: 'ip'; addresses: string[] };

export interface Trunk extends Sourced {
  kind: 'Trunk';
  id: string;
  name?: string;
  hosts: TrunkHost[];
  auth: TrunkAuth;
  codecs?: string[];
  maxChannels?: number;
  callerId?: { name?: string; number?: string };
  numberFormat?: {
    country: string;
    nationalPrefix?: string;
    internationalPrefix?: string;
    inbound?: 'e164' | 'national' | 'auto';
    outbound?: 'e164' | 'e164-no-plus' | 'national';
  };
}

export interface InboundRoute extends Sourced {
  kind: 'InboundRoute';
  id: string;
  name?: string;
  dids: string[];
  trunk?: string;
  destination?: DestinationRef;
  schedule?: string;
  open?: DestinationRef;
  closed?: DestinationRef;
  holiday?: DestinationRef;
  callerIdPrefix?: string;
}

export interface OutboundRoute extends Sourced {
  kind: 'OutboundRoute';
  id: string;
  name?: string;
  priority: number;
  patterns: string[];
  strip?: number;
  prepend?: string;
  trunks: string[];
  classes?: string[];
  emergency?: boolean;
}

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

export interface Schedule extends Sourced {
  kind: 'Schedule';
  id: string;
  name?: string;
  timezone: string;
  hours: { days: Weekday[]; open: string; close: string }[];
  holidays?: { name: string; date?: string; from?: string; to?: string; yearly?: string }[];
  overrides?: { date: string; name?: string; closed?: boolean; open?: string; close?: string }[];
  open?: DestinationRef;
  closed?: DestinationRef;
  holiday?: DestinationRef;
}

export interface Conference extends Sourced {
  kind: 'Conference';
  id: string;
  number: string;
  name?: string;
  pin?: SecretRef;
  maxMembers?: number;
  musicOnHold?: string;
  announceJoinLeave?: boolean;
}

export interface VoicemailSettings extends Sourced {
  kind: 'VoicemailSettings';
  maxMessageLength?: number;
  minMessageLength?: number;
  maxMessages?: number;
  maxSilence?: number;
  pinAttempts?: number;
  retentionDays?: number;
  greeting?: Prompt;
  email?: {
    from: string;
    subject?: string;
    smtp: { host: string; port?: number; secure?: 'starttls' | 'tls' | 'none'; username?: string; password?: SecretRef };
  };
}

export interface Webhook extends Sourced {
  kind: 'Webhook';
  id: string;
  url: string;
  events: string[];
  secret: SecretRef;
  /** The secret being rotated out: deliveries carry a signature with each (docs/webhooks.md). */
  previousSecret?: SecretRef;
  enabled?: boolean;
  timeout?: number;
  maxAttempts?: number;
}

export interface MusicOnHold extends Sourced {
  kind: 'MusicOnHold';
  id: string;
  name?: string;
  files: string[];
  order?: 'sequential' | 'random';
}

/** Any resource a repo can hold besides pbx.yaml. */
export type Resource =
  | Extension
  | RingGroup
  | Queue
  | Ivr
  | Trunk
  | InboundRoute
  | OutboundRoute
  | Schedule
  | Conference
  | VoicemailSettings
  | Webhook
  | MusicOnHold;

export type ResourceKind = Resource['kind'];

/**
 * The whole desired state of one PBX. Collections are keyed by identity (extension number, or id)
 * and keep repo order; `voicemailSettings` is the singleton, if any.
 */
export interface DesiredState {
  pbx: PbxConfig;
  extensions: Map<string, Extension>;
  ringGroups: Map<string, RingGroup>;
  queues: Map<string, Queue>;
  ivrs: Map<string, Ivr>;
  trunks: Map<string, Trunk>;
  inboundRoutes: Map<string, InboundRoute>;
  outboundRoutes: Map<string, OutboundRoute>;
  schedules: Map<string, Schedule>;
  conferences: Map<string, Conference>;
  webhooks: Map<string, Webhook>;
  musicOnHold: Map<string, MusicOnHold>;
  voicemailSettings?: VoicemailSettings;
}
