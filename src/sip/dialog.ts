/**
 * Dialog state (RFC 3261 §12): the identifiers, sequence numbers, remote target and route set a
 * peer-to-peer relationship keeps between requests, and the construction of in-dialog requests
 * (§12.2.1.1, loose and strict routing per §16.12). Pure: no timers, no sockets. The user agent
 * (user-agent.ts, ua-session.ts) adds the top Via when it sends what `createRequest` built.
 */
import type { NameAddr, SipRequest, SipResponse, SipUri } from './message.js';
import { getHeader, getHeaders, parseNameAddr, formatNameAddr } from './headers.js';
import { formatUri } from './uri.js';
import { cseqOf } from './transaction.js';

/** §12: a dialog starts early (provisional with a To tag) or confirmed (2xx), and ends terminated. */
export enum DialogState {
  Early = 'early',
  Confirmed = 'confirmed',
  Terminated = 'terminated',
}

const TRANSITIONS: ReadonlyMap<DialogState, readonly DialogState[]> = new Map([
  [DialogState.Early, [DialogState.Confirmed, DialogState.Terminated]],
  [DialogState.Confirmed, [DialogState.Terminated]],
]);

/** Which side created the dialog: UAC sent the INVITE, UAS received it. */
export type DialogRole = 'uac' | 'uas';

/** Everything §12.1.1 / §12.1.2 say a dialog holds. */
export interface DialogFields {
  role: DialogRole;
  callId: string;
  localTag: string;
  remoteTag: string;
  /** Our From (UAC) or To (UAS) address, without the tag. */
  local: NameAddr;
  /** The peer's address, without the tag. */
  remote: NameAddr;
  /** Where in-dialog requests go: the peer's Contact URI (§12.1.1). */
  remoteTarget: SipUri;
  /** Route header values (name-addr strings) in the order our requests carry them. */
  routeSet: string[];
  /** Last CSeq number we used; the next request uses one more. */
  localSeq: number;
  /** Highest CSeq number seen from the peer; undefined until its first request (UAC side). */
  remoteSeq: number | undefined;
  /** §12.1.1: SIPS Request-URI received over TLS. Always false here: there is no TLS transport. */
  secure: boolean;
  /** Our Contact header value, added to target-refresh requests (re-INVITE, UPDATE; §12.2.1.1). */
  localContact?: string;
}

/** Options of {@link Dialog.createRequest}. */
export interface DialogRequestOptions {
  body?: Buffer | string;
  /** Content-Type of `body`; default `application/sdp` when there is a body. */
  contentType?: string;
  /** Extra headers appended as given. */
  headers?: { name: string; value: string }[];
  /** Use this CSeq number instead of the next one (ACK for a 2xx reuses the INVITE's, §13.2.2.4). */
  cseq?: number;
}

/** Methods that refresh the remote target and so carry a Contact (§12.2, RFC 3311). */
const TARGET_REFRESH = new Set(['INVITE', 'UPDATE']);

/**
 * One dialog. Identified by Call-ID + local tag + remote tag (§12); `Dialog.idOf*` compute the same
 * id from an incoming message so the user agent can look dialogs up in a map.
 */
export class Dialog {
  readonly role: DialogRole;
  readonly callId: string;
  readonly localTag: string;
  remoteTag: string;
  readonly local: NameAddr;
  remote: NameAddr;
  remoteTarget: SipUri;
  routeSet: string[];
  localSeq: number;
  remoteSeq: number | undefined;
  readonly secure: boolean;
  readonly localContact: string | undefined;
  private current: DialogState;

  constructor(fields: DialogFields, state: DialogState) {
    this.role = fields.role;
    this.callId = fields.callId;
    this.localTag = fields.localTag;
    this.remoteTag = fields.remoteTag;
    this.local = fields.local;
    this.remote = fields.remote;
    this.remoteTarget = fields.remoteTarget;
    this.routeSet = fields.routeSet;
    this.localSeq = fields.localSeq;
    this.remoteSeq = fields.remoteSeq;
    this.secure = fields.secure;
    this.localContact = fields.localContact;
    this.current = state;
  }

  /**
   * The UAC side from a response with a To tag to our INVITE (§12.1.2): route set = the response's
   * Record-Route reversed, remote target = its Contact, local CSeq = the INVITE's. Early for 1xx,
   * confirmed for 2xx.
   *
   * @throws Error when the response has no To tag or no Contact, or the INVITE lacks From/CSeq —
   *   the caller must check `To` tag first (a dialog cannot exist without it)
   */
  static fromUacResponse(invite: SipRequest, response: SipResponse, localContact?: string): Dialog {
    const from = requireNameAddr(invite, 'From');
    const to = requireNameAddr(response, 'To');
    const remoteTag = to.params.get('tag');
    const localTag = from.params.get('tag');
    const cseq = cseqOf(invite);
    if (!remoteTag || !localTag || cseq === undefined) throw new Error('dialog needs From/To tags and a CSeq');
    return new Dialog(
      {
        role: 'uac',
        callId: requireHeader(invite, 'Call-ID'),
        localTag,
        remoteTag,
        local: withoutTag(from),
        remote: withoutTag(to),
        remoteTarget: requireContact(response),
        routeSet: getHeaders(response, 'Record-Route').reverse(),
        localSeq: cseq.seq,
        remoteSeq: undefined,
        secure: false,
        localContact,
      },
      response.status < 200 ? DialogState.Early : DialogState.Confirmed,
    );
  }

  /**
   * The UAS side from a received INVITE and the tag we put in our To (§12.1.1): route set = the
   * request's Record-Route in order, remote target = its Contact, remote CSeq = the INVITE's; our
   * local CSeq starts at a random value below 2^16 (§8.1.1.5 allows any value below 2^31).
   *
   * @throws Error when the INVITE has no From tag, Contact, Call-ID or CSeq (check before answering
   *   2xx; §12.1.1 needs them)
   */
  static fromUasRequest(invite: SipRequest, localTag: string, state: DialogState, localContact?: string): Dialog {
    const from = requireNameAddr(invite, 'From');
    const to = requireNameAddr(invite, 'To');
    const remoteTag = from.params.get('tag');
    const cseq = cseqOf(invite);
    if (!remoteTag || cseq === undefined) throw new Error('dialog needs a From tag and a CSeq');
    return new Dialog(
      {
        role: 'uas',
        callId: requireHeader(invite, 'Call-ID'),
        localTag,
        remoteTag,
        local: withoutTag(to),
        remote: withoutTag(from),
        remoteTarget: requireContact(invite),
        routeSet: getHeaders(invite, 'Record-Route'),
        localSeq: 1 + Math.floor(Math.random() * 0xffff),
        remoteSeq: cseq.seq,
        secure: false,
        localContact,
      },
      state,
    );
  }

  /** The map key of a dialog: Call-ID, local tag, remote tag. */
  static id(callId: string, localTag: string, remoteTag: string): string {
    return `${callId}\n${localTag}\n${remoteTag}`;
  }

  /** The dialog id a received request belongs to (§12.2.2: To tag is ours, From tag theirs). */
  static idOfRequest(request: SipRequest): string | undefined {
    return idFrom(request, 'To', 'From');
  }

  /** The dialog id a received response belongs to (From tag is ours, To tag theirs). */
  static idOfResponse(response: SipResponse): string | undefined {
    return idFrom(response, 'From', 'To');
  }

  /** Call-ID + local tag + remote tag, the key {@link Dialog.idOfRequest} computes. */
  get id(): string {
    return Dialog.id(this.callId, this.localTag, this.remoteTag);
  }

  /** early, confirmed or terminated. */
  get state(): DialogState {
    return this.current;
  }

  /**
   * early → confirmed. For the UAC, a 2xx recomputes the route set and remote target (§13.2.2.4).
   * @throws Error unless the dialog is early (a bug)
   */
  confirm(response?: SipResponse): void {
    this.transition(DialogState.Confirmed);
    if (this.role === 'uac' && response !== undefined) {
      this.routeSet = getHeaders(response, 'Record-Route').reverse();
      this.remoteTarget = requireContact(response);
    }
  }

  /** → terminated (idempotent). */
  terminate(): void {
    if (this.current !== DialogState.Terminated) this.transition(DialogState.Terminated);
  }

  /**
   * Checks and records the CSeq of an in-dialog request from the peer (§12.2.2). ACK and CANCEL
   * must not be passed here (they reuse their INVITE's number).
   * @returns false when it is lower than the last one seen: out of order, answer 500
   */
  acceptRemoteSeq(seq: number): boolean {
    if (this.remoteSeq !== undefined && seq < this.remoteSeq) return false;
    this.remoteSeq = seq;
    return true;
  }

  /**
   * Takes the Contact of a target-refresh request or of the 2xx to ours as the new remote target
   * (§12.2.1.2, §12.2.2). A message without a parseable Contact leaves it unchanged.
   */
  refreshTarget(message: SipRequest | SipResponse): void {
    try {
      this.remoteTarget = requireContact(message);
    } catch {
      // keep the old target: a refresh without Contact changes nothing (§12.2.1.2)
    }
  }

  /**
   * Builds an in-dialog request (§12.2.1.1) without Via: To/From with tags, Call-ID, the next local
   * CSeq (or `options.cseq`), Max-Forwards, Contact for target refreshes, and Request-URI + Route
   * per the route set — loose routing (first route has `lr`): Request-URI = remote target and the
   * route set as Route headers; strict routing: Request-URI = first route, the rest plus the remote
   * target as Route headers (§12.2.1.1, §16.12).
   *
   * @throws Error when the dialog is terminated (a bug: nothing may be sent in it any more), except
   *   for ACK, which may follow a final response that ended the dialog
   */
  createRequest(method: string, options: DialogRequestOptions = {}): SipRequest {
    if (this.current === DialogState.Terminated && method !== 'ACK') {
      throw new Error(`dialog ${this.callId}: cannot send ${method} in a terminated dialog`);
    }
    let seq = options.cseq;
    if (seq === undefined) seq = ++this.localSeq;
    const { uri, routes } = this.requestTarget();
    const body = typeof options.body === 'string' ? Buffer.from(options.body) : (options.body ?? Buffer.alloc(0));
    const headers = [
      ...routes.map((value) => ({ name: 'Route', value })),
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: formatNameAddr(withTag(this.local, this.localTag)) },
      { name: 'To', value: formatNameAddr(withTag(this.remote, this.remoteTag)) },
      { name: 'Call-ID', value: this.callId },
      { name: 'CSeq', value: `${seq} ${method}` },
    ];
    if (TARGET_REFRESH.has(method) && this.localContact !== undefined) {
      headers.push({ name: 'Contact', value: this.localContact });
    }
    headers.push(...(options.headers ?? []));
    if (body.length > 0) headers.push({ name: 'Content-Type', value: options.contentType ?? 'application/sdp' });
    headers.push({ name: 'Content-Length', value: String(body.length) });
    return { kind: 'request', method, uri, version: 'SIP/2.0', headers, body };
  }

  /**
   * The URI the next hop is resolved from when no outbound proxy overrides it (§8.1.2): the first
   * route (loose routing) or the Request-URI (strict routing / empty route set).
   */
  nextHop(): SipUri {
    const first = this.routeSet[0];
    if (first === undefined) return this.remoteTarget;
    return parseNameAddr(first).uri;
  }

  private requestTarget(): { uri: string; routes: string[] } {
    const first = this.routeSet[0];
    if (first === undefined) return { uri: formatUri(this.remoteTarget), routes: [] };
    const firstUri = parseNameAddr(first).uri;
    if (firstUri.params.has('lr')) return { uri: formatUri(this.remoteTarget), routes: [...this.routeSet] };
    // Strict router (RFC 2543): it expects itself in the Request-URI, and the remote target last.
    const stripped: SipUri = { ...firstUri, headers: new Map() };
    return {
      uri: formatUri(stripped),
      routes: [...this.routeSet.slice(1), `<${formatUri(this.remoteTarget)}>`],
    };
  }

  private transition(to: DialogState): void {
    if (!(TRANSITIONS.get(this.current) ?? []).includes(to)) {
      throw new Error(`dialog ${this.callId}: illegal transition ${this.current} -> ${to}`);
    }
    this.current = to;
  }
}

function idFrom(message: SipRequest | SipResponse, localHeader: string, remoteHeader: string): string | undefined {
  const callId = getHeader(message, 'Call-ID');
  const local = tagOf(message, localHeader);
  const remote = tagOf(message, remoteHeader);
  if (callId === undefined || !local || !remote) return undefined;
  return Dialog.id(callId, local, remote);
}

/** The `tag` parameter of a From/To header, if the header parses and has one. */
export function tagOf(message: SipRequest | SipResponse, name: 'From' | 'To' | string): string | undefined {
  const raw = getHeader(message, name);
  if (raw === undefined) return undefined;
  try {
    return parseNameAddr(raw).params.get('tag') ?? undefined;
  } catch {
    return undefined;
  }
}

function requireHeader(message: SipRequest | SipResponse, name: string): string {
  const value = getHeader(message, name);
  if (value === undefined) throw new Error(`${name} header missing`);
  return value;
}

function requireNameAddr(message: SipRequest | SipResponse, name: string): NameAddr {
  return parseNameAddr(requireHeader(message, name));
}

function requireContact(message: SipRequest | SipResponse): SipUri {
  const first = getHeaders(message, 'Contact')[0];
  if (first === undefined) throw new Error('Contact header missing');
  return parseNameAddr(first).uri;
}

function withoutTag(addr: NameAddr): NameAddr {
  const params = new Map(addr.params);
  params.delete('tag');
  return { ...addr, params };
}

function withTag(addr: NameAddr, tag: string): NameAddr {
  const params = new Map(addr.params);
  params.set('tag', tag);
  return { ...addr, params };
}
