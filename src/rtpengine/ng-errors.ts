/**
 * Typed failures of the RTPengine NG client (src/rtpengine/ng-client.ts). All are operational
 * (`PbxError`): a dead or refusing rtpengine is something the user fixes, not a pbxctl bug.
 * Source: rtpengine docs/ng_control_protocol.md (result / error-reason / warning).
 */
import { PbxError } from '../lib/errors.js';

/** Base of every NG client failure; `command` is the NG command (e.g. `offer`, `play media`). */
export class NgError extends PbxError {
  constructor(
    code: string,
    readonly command: string,
    message: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.name = 'NgError';
  }
}

/**
 * No reply within `attempts` × `timeoutMs` (ms), each attempt resending the same cookie.
 * `lastSocketError` is e.g. `ECONNREFUSED` when the kernel reported the port closed. Code `NG_TIMEOUT`.
 */
export class NgTimeoutError extends NgError {
  constructor(
    command: string,
    readonly target: string,
    readonly attempts: number,
    readonly timeoutMs: number,
    readonly lastSocketError?: string,
  ) {
    super(
      'NG_TIMEOUT',
      command,
      `rtpengine at ${target} did not answer '${command}' (${attempts} attempt(s) of ${timeoutMs} ms)` +
        (lastSocketError ? `; last socket error ${lastSocketError}` : ''),
      { hint: `Is rtpengine running with --listen-ng=${target}? A firewall or a wrong port also looks like this.` },
    );
    this.name = 'NgTimeoutError';
  }
}

/**
 * rtpengine replied `result: error` (or another non-ok result such as `load limit`);
 * `errorReason` is its `error-reason` text verbatim, e.g. `Unknown call-ID`. Code `NG_ERROR`.
 */
export class NgProtocolError extends NgError {
  constructor(
    command: string,
    readonly errorReason: string,
    readonly result: string = 'error',
  ) {
    super('NG_ERROR', command, `rtpengine rejected '${command}': ${errorReason}`);
    this.name = 'NgProtocolError';
  }
}

/** A reply carried our cookie but was not a bencode dictionary with a string `result`. Code `NG_BAD_REPLY`. */
export class NgMalformedReplyError extends NgError {
  constructor(command: string, detail: string, cause?: unknown) {
    super('NG_BAD_REPLY', command, `malformed reply from rtpengine to '${command}': ${detail}`, { cause });
    this.name = 'NgMalformedReplyError';
  }
}

/** The client was closed before the request completed (or was used after close). Code `NG_CLOSED`. */
export class NgClosedError extends NgError {
  constructor(command: string) {
    super('NG_CLOSED', command, `NG client closed; '${command}' was not completed`);
    this.name = 'NgClosedError';
  }
}
