/**
 * Typed errors of the SSH target: what went wrong reaching a node, in words an operator can act
 * on, with a stable code each (scripts and CI match on it). ssh2 reports failures as plain Errors
 * with a `level` (`client-socket`, `client-timeout`, `client-authentication`, ...) and, for socket
 * errors, a Node `code`; {@link classifyConnectError} turns them into these.
 */
import { PbxError } from '../lib/errors.js';
import { fingerprintOf, keyTypeOf, knownHostName } from './ssh-known-hosts.js';

/** Where a connection goes, for messages: `user@host:port`. */
export interface SshEndpoint {
  host: string;
  port: number;
  user: string;
}

const where = (e: SshEndpoint) => `${e.user}@${e.host}:${e.port}`;

/** The host key is not the one known_hosts lists for the host: refused, never overridable by a flag. */
export function hostKeyMismatch(e: SshEndpoint, knownHosts: string, key: Buffer, lines: number[]): PbxError {
  return new PbxError('SSH_HOST_KEY_MISMATCH', `the host key of ${where(e)} (${keyTypeOf(key)} ${fingerprintOf(key)}) does not match the one ${knownHosts} lists for ${knownHostName(e.host, e.port)} (line ${lines.join(', ')}). Someone may be intercepting the connection, or the node was reinstalled.`, {
    hint: `Check the node's key on its console (ssh-keygen -lf /etc/ssh/ssh_host_${keyTypeOf(key).replace(/^ssh-|-sha2-nistp\d+$/g, '')}_key.pub). Only if it really changed: ssh-keygen -R '${knownHostName(e.host, e.port)}' -f ${knownHosts}, then connect again with --accept-new-host-key.`,
  });
}

/** The host is not in known_hosts and accepting new keys was not asked for. */
export function hostKeyUnknown(e: SshEndpoint, knownHosts: string, key: Buffer): PbxError {
  return new PbxError('SSH_HOST_KEY_UNKNOWN', `${where(e)} is not in ${knownHosts}; its host key is ${keyTypeOf(key)} ${fingerprintOf(key)}`, {
    hint: `Compare the fingerprint with the node's (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on its console), then add it: pbxctl node bootstrap TARGET --accept-new-host-key, or ssh-keyscan -p ${e.port} ${e.host} >> ${knownHosts}.`,
  });
}

/** A key listed as @revoked in known_hosts. */
export function hostKeyRevoked(e: SshEndpoint, knownHosts: string, key: Buffer, line: number): PbxError {
  return new PbxError('SSH_HOST_KEY_REVOKED', `${where(e)} presented ${keyTypeOf(key)} ${fingerprintOf(key)}, which ${knownHosts} line ${line} marks @revoked`, {
    hint: 'The node must get a new host key before pbxctl connects to it.',
  });
}

/** The connection dropped while `what` was in progress. */
export function connectionLost(e: SshEndpoint, what: string, cause?: unknown): PbxError {
  return new PbxError('SSH_CONNECTION_LOST', `the SSH connection to ${where(e)} was lost during ${what}${cause instanceof Error && cause.message ? ` (${cause.message})` : ''}`, {
    hint: 'Files are written under temporary names and `current` is switched with one rename, so the node is on a complete release (the old or the new one). Run the command again when the node is reachable: apply converges from whatever the node has.',
    cause,
  });
}

/** The private key file named in pbx.yaml cannot be used. */
export function keyUnreadable(file: string, cause: unknown): PbxError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new PbxError('SSH_KEY_UNREADABLE', `cannot use the SSH key ${file}: ${why}`, {
    hint: /passphrase|encrypted/i.test(why) ? 'pbxctl does not ask for passphrases: load the key into ssh-agent (ssh-add) and remove identityFile from the node.' : 'Check identityFile in pbx.yaml (a private key in OpenSSH or PEM format, readable by you).',
    cause,
  });
}

/** Neither identityFile nor an agent ($SSH_AUTH_SOCK) is available. */
export function noCredentials(e: SshEndpoint): PbxError {
  return new PbxError('SSH_NO_CREDENTIALS', `no SSH key for ${where(e)}: the node has no identityFile and SSH_AUTH_SOCK is not set`, {
    hint: 'Set identityFile on the node in pbx.yaml, or start ssh-agent and ssh-add the key.',
  });
}

/**
 * Turns an ssh2 connect failure into a typed PbxError: SSH_HOST_UNREACHABLE (refused, no route,
 * unknown name, timeout), SSH_AUTH_FAILED (the server refused every key), SSH_HANDSHAKE_FAILED
 * (no common algorithm, not an SSH server), else SSH_CONNECT_FAILED.
 */
export function classifyConnectError(e: SshEndpoint, err: unknown): PbxError {
  if (err instanceof PbxError) return err;
  const x = err as (Error & { code?: string; level?: string }) | undefined;
  const msg = x?.message ?? String(err);
  const code = x?.code;
  if (code && ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET'].includes(code)) {
    const why = code === 'ECONNREFUSED' ? 'nothing listens on that port' : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'the name does not resolve' : code === 'ECONNRESET' ? 'the connection was reset' : 'the host does not answer';
    return new PbxError('SSH_HOST_UNREACHABLE', `cannot reach ${where(e)}: ${why} (${code})`, {
      hint: 'Check host and port of the node in pbx.yaml, that sshd runs on it, and that no firewall is in between.', cause: err,
    });
  }
  if (x?.level === 'client-timeout' || /timed out/i.test(msg)) {
    return new PbxError('SSH_HOST_UNREACHABLE', `cannot reach ${where(e)}: no SSH handshake within the timeout (${msg})`, {
      hint: 'The host or a firewall drops the connection, or the port is not an SSH server.', cause: err,
    });
  }
  if (x?.level === 'client-authentication' || /authentication methods failed/i.test(msg)) {
    return new PbxError('SSH_AUTH_FAILED', `${where(e)} refused the login: ${msg}`, {
      hint: `Is the public key in ~${e.user}/.ssh/authorized_keys on the node, and is it the key identityFile (or the agent) offers?`, cause: err,
    });
  }
  if (x?.level === 'handshake' || /handshake|no matching/i.test(msg)) {
    return new PbxError('SSH_HANDSHAKE_FAILED', `SSH handshake with ${where(e)} failed: ${msg}`, { hint: 'Is the port an OpenSSH server?', cause: err });
  }
  return new PbxError('SSH_CONNECT_FAILED', `cannot connect to ${where(e)}: ${msg}`, { cause: err });
}
