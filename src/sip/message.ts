/**
 * The SIP message model shared by the codec (parse.ts, serialize.ts), the transports, the
 * transaction layer and the dialog layer. Pure data; RFC 3261 §7 (messages), §20 (header fields),
 * §25 (ABNF).
 *
 * Header fields are kept as an ordered list of (name, raw value) pairs, exactly one pair per header
 * *value* line as received (a line with comma-separated values stays one entry), names in their
 * canonical long form (compact forms such as `v`, `i`, `m` are expanded by the parser, RFC 3261
 * §7.3.3). Typed views (Via, From/To, CSeq, ...) are parsed on demand by headers.ts, so a message
 * with a malformed header we never look at is still usable (robustness, RFC 4475 §3.1.1).
 */

/** One header field line: canonical name (e.g. `Call-ID`, `Via`) and its raw value (unfolded, trimmed). */
export interface SipHeader {
  name: string;
  value: string;
}

/** Fields common to requests and responses. */
interface SipMessageBase {
  /** Always `SIP/2.0` for messages we accept; kept as received. */
  version: string;
  headers: SipHeader[];
  /** The message body (Content-Length bytes), empty when there is none. */
  body: Buffer;
}

/** A request (RFC 3261 §7.1). `uri` is the Request-URI as written, parsed lazily with parseUri(). */
export interface SipRequest extends SipMessageBase {
  kind: 'request';
  /** Method token as received (case-sensitive, RFC 3261 §7.1), e.g. `INVITE`. */
  method: string;
  uri: string;
}

/** A response (RFC 3261 §7.2). */
export interface SipResponse extends SipMessageBase {
  kind: 'response';
  /** 100-699. */
  status: number;
  reason: string;
}

export type SipMessage = SipRequest | SipResponse;

/**
 * A parsed SIP or SIPS URI (RFC 3261 §19.1), or any other absolute URI kept opaque (`tel:`, `http:`).
 * `params` and `headers` keep the order they were written in; parameter names are lower-cased
 * (they compare case-insensitively, §19.1.4), values are kept escaped as written.
 */
export interface SipUri {
  scheme: string;
  user?: string;
  password?: string;
  host: string;
  port?: number;
  params: Map<string, string | null>;
  headers: Map<string, string>;
  /** For non-sip(s) schemes: everything after `scheme:`. */
  opaque?: string;
}

/** A name-addr or addr-spec with header parameters: From, To, Contact, Route, Record-Route (§20). */
export interface NameAddr {
  displayName?: string;
  uri: SipUri;
  /** Header parameters after the URI, e.g. `tag`, `expires`, `q`; names lower-cased. */
  params: Map<string, string | null>;
}

/** One Via value (RFC 3261 §20.42, §18.2.1; `received`/`rport` per RFC 3581). */
export interface Via {
  /** e.g. `SIP/2.0`. */
  protocol: string;
  /** Upper-case transport, e.g. `UDP`, `TCP`. */
  transport: string;
  host: string;
  port?: number;
  params: Map<string, string | null>;
}

/** CSeq (RFC 3261 §20.16). */
export interface CSeq {
  seq: number;
  method: string;
}
