/**
 * One SSH connection to a node (node-ssh over ssh2): login with a key file or ssh-agent, host key
 * checked against known_hosts before any credential is sent, SFTP and exec channels, and TCP
 * forwarding to the node's loopback. A dropped connection fails the operation that was running
 * with SSH_CONNECTION_LOST; the next operation connects again (with the same host key check), so
 * the executor can still release its lock or roll back after a short network blip.
 */
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { NodeSSH } from 'node-ssh';
import { PbxError } from '../lib/errors.js';
import { classifyConnectError, connectionLost, hostKeyMismatch, hostKeyRevoked, hostKeyUnknown, keyUnreadable, noCredentials, type SshEndpoint } from './ssh-errors.js';
import { appendKnownHost, checkHostKey, hostKeyAlgorithms, knownHostName, patternsMatch, readKnownHosts } from './ssh-known-hosts.js';

/** How to reach and authenticate to a node. */
export interface SshConnectOptions extends SshEndpoint {
  /** Private key file; without it the agent at `agent` (default $SSH_AUTH_SOCK) is used. */
  identityFile?: string;
  /** ssh-agent socket path; default $SSH_AUTH_SOCK. */
  agent?: string;
  /** known_hosts file the host key is checked against (absolute path). */
  knownHosts: string;
  /** Add the key of a host known_hosts does not list yet (ssh's StrictHostKeyChecking=accept-new). A changed key is still refused. */
  acceptNewHostKey?: boolean;
  /** Handshake timeout in ms; default 10000. */
  readyTimeoutMs?: number;
}

/** The subset of ssh2's SFTP attributes pbxctl reads (SFTP v3: mtime in whole seconds). */
export interface SftpStats {
  mode: number;
  size: number;
  mtime: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

type Cb<T = void> = (err: (Error & { code?: number | string }) | null | undefined, value: T) => void;

/** The subset of ssh2's SFTPWrapper this module uses (ssh2 ships no TypeScript types of its own). */
export interface Sftp {
  open(path: string, flags: string, attrs: { mode?: number }, cb: Cb<Buffer>): void;
  write(handle: Buffer, data: Buffer, offset: number, length: number, position: number, cb: Cb): void;
  close(handle: Buffer, cb: Cb): void;
  ext_openssh_fsync(handle: Buffer, cb: Cb): void;
  fchown(handle: Buffer, uid: number, gid: number, cb: Cb): void;
  ext_openssh_rename(from: string, to: string, cb: Cb): void;
  utimes(path: string, atime: number, mtime: number, cb: Cb): void;
  stat(path: string, cb: Cb<SftpStats>): void;
  lstat(path: string, cb: Cb<SftpStats>): void;
  readlink(path: string, cb: Cb<string>): void;
  symlink(target: string, link: string, cb: Cb): void;
  readdir(path: string, cb: Cb<{ filename: string }[]>): void;
  mkdir(path: string, attrs: { mode?: number }, cb: Cb): void;
  readFile(path: string, cb: Cb<Buffer>): void;
  fastPut(local: string, remote: string, opts: { mode?: number; concurrency?: number }, cb: Cb): void;
  end(): void;
}

/** The subset of ssh2's Client this module uses. */
interface Ssh2Client {
  on(event: 'error' | 'close', fn: (e?: Error) => void): void;
  forwardOut(srcIP: string, srcPort: number, dstIP: string, dstPort: number, cb: Cb<Duplex>): void;
  end(): void;
}

/** SFTP status codes (draft-ietf-secsh-filexfer-02 7). */
export const SFTP_NO_SUCH_FILE = 2;
export const SFTP_PERMISSION_DENIED = 3;

/** Output of a command run on the node. */
export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Single-quotes a word for a POSIX shell on the node. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A (re)connectable SSH connection with a lazily opened SFTP session. */
export class SshConnection {
  private ssh: NodeSSH | undefined;
  private sftpSession: Sftp | undefined;
  private connecting: Promise<NodeSSH> | undefined;
  private closedByUs = false;
  /**
   * Rejecters of the operations running on the current connection: ssh2 never answers requests
   * sent after a channel closed, so its close fails them instead of letting them wait forever.
   */
  private pending = new Set<(e: Error) => void>();
  /** Times the connection dropped under us (tests and messages). */
  lost = 0;

  constructor(readonly opts: SshConnectOptions) {}

  /** `user@host:port`. */
  get label(): string {
    return `${this.opts.user}@${this.opts.host}:${this.opts.port}`;
  }

  /**
   * Connects now (or returns the live connection).
   * @throws PbxError SSH_HOST_KEY_MISMATCH, SSH_HOST_KEY_UNKNOWN, SSH_HOST_KEY_REVOKED,
   *   SSH_HOST_UNREACHABLE, SSH_AUTH_FAILED, SSH_KEY_UNREADABLE, SSH_NO_CREDENTIALS, SSH_CONNECT_FAILED
   */
  async connect(): Promise<NodeSSH> {
    if (this.closedByUs) throw new Error(`SSH connection to ${this.label} used after close()`);
    if (this.ssh?.isConnected()) return this.ssh;
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<NodeSSH> {
    const o = this.opts;
    const auth: { privateKey?: string; agent?: string } = {};
    if (o.identityFile) {
      auth.privateKey = await readFile(o.identityFile, 'utf8').catch((e: unknown) => {
        throw keyUnreadable(o.identityFile!, e);
      });
    } else {
      const agent = o.agent ?? process.env.SSH_AUTH_SOCK;
      if (!agent) throw noCredentials(o);
      auth.agent = agent;
    }
    const known = await readKnownHosts(o.knownHosts).catch((e: unknown) => {
      throw new PbxError('SSH_KNOWN_HOSTS_UNREADABLE', `cannot read ${o.knownHosts}: ${(e as Error).message}`, { hint: 'Check knownHosts on the node in pbx.yaml.', cause: e });
    });
    // Offer only the key types known_hosts has for this host, as OpenSSH does: otherwise the server
    // may pick another of its keys and a known host would look changed.
    const knownTypes = [...new Set(known.filter((k) => !k.marker && patternsMatch(k.patterns, knownHostName(o.host, o.port))).map((k) => k.keyType))];
    let refusal: PbxError | undefined;
    let accepted: Buffer | undefined;
    const hostVerifier = (key: Buffer): boolean => {
      const v = checkHostKey(known, o.host, o.port, key);
      if (v.status === 'match') return true;
      if (v.status === 'unknown' && o.acceptNewHostKey) {
        accepted = key;
        return true;
      }
      refusal = v.status === 'mismatch' ? hostKeyMismatch(o, o.knownHosts, key, v.lines) : v.status === 'revoked' ? hostKeyRevoked(o, o.knownHosts, key, v.line) : hostKeyUnknown(o, o.knownHosts, key);
      return false;
    };
    const ssh = new NodeSSH();
    try {
      await ssh.connect({
        host: o.host, port: o.port, username: o.user, ...auth, hostVerifier, readyTimeout: o.readyTimeoutMs ?? 10_000,
        keepaliveInterval: 5000, keepaliveCountMax: 3,
        ...(knownTypes.length ? { algorithms: { serverHostKey: knownTypes.flatMap(hostKeyAlgorithms) } } : {}),
      } as Parameters<NodeSSH['connect']>[0]);
    } catch (e) {
      ssh.dispose();
      if (refusal) throw refusal;
      if (e instanceof Error && /privateKey|private key|passphrase/i.test(e.message) && o.identityFile) throw keyUnreadable(o.identityFile, e);
      throw classifyConnectError(o, e);
    }
    if (refusal) {
      ssh.dispose();
      throw refusal;
    }
    const client = ssh.connection as unknown as Ssh2Client;
    // After `ready` node-ssh listens for no errors: a reset would crash the process as an unhandled 'error' event.
    client.on('error', () => undefined);
    const pending = new Set<(e: Error) => void>();
    client.on('close', () => {
      for (const fail of pending) fail(new Error('the connection closed with the operation pending'));
      pending.clear();
      if (this.ssh === ssh) {
        this.ssh = undefined;
        this.sftpSession = undefined;
        if (!this.closedByUs) this.lost++;
      }
    });
    if (accepted) await appendKnownHost(o.knownHosts, o.host, o.port, accepted);
    this.ssh = ssh;
    this.pending = pending;
    return ssh;
  }

  /** The SFTP session (opened on first use and after a reconnect). */
  async sftp(): Promise<Sftp> {
    const ssh = await this.connect();
    if (this.sftpSession && this.ssh === ssh) return this.sftpSession;
    const s = (await ssh.requestSFTP()) as unknown as Sftp;
    if (this.ssh === ssh) this.sftpSession = s;
    return s;
  }

  /**
   * Runs `fn` with a live connection; an error while the connection drops becomes SSH_CONNECTION_LOST.
   * @param what what is being done, for the message ("writing releases/X/dispatcher.list")
   */
  async run<T>(what: string, fn: (sftp: Sftp, ssh: NodeSSH) => Promise<T>): Promise<T> {
    const lostBefore = this.lost;
    let ssh: NodeSSH;
    let sftp: Sftp;
    try {
      ssh = await this.connect();
      sftp = await this.sftp();
    } catch (e) {
      if (e instanceof PbxError) throw e;
      throw connectionLost(this.opts, what, e);
    }
    const pending = this.pending;
    let fail!: (e: Error) => void;
    const closed = new Promise<never>((_, reject) => (fail = reject));
    pending.add(fail);
    try {
      if (!ssh.isConnected()) throw new Error('the connection closed');
      return await Promise.race([fn(sftp, ssh), closed]);
    } catch (e) {
      // ssh2 fails pending requests with "No response from server" when the channel closes; give it
      // a moment to emit 'close' so a drop is told apart from an SFTP error.
      if (this.lost === lostBefore && !(e instanceof PbxError) && /no response|not connected|channel|closed/i.test((e as Error).message ?? '')) {
        await new Promise((r) => setTimeout(r, 50));
      }
      if (this.lost !== lostBefore || !ssh.isConnected()) throw connectionLost(this.opts, what, e);
      throw e;
    } finally {
      pending.delete(fail);
    }
  }

  /**
   * Runs a shell command on the node.
   * @param stdin text fed to its standard input
   * @throws PbxError SSH_CONNECTION_LOST and the connect errors; a non-zero exit is a result, not an error
   */
  async exec(command: string, stdin?: string): Promise<ExecResult> {
    return this.run(`running "${command.length > 60 ? `${command.slice(0, 57)}...` : command}"`, async (_sftp, ssh) => {
      const r = await ssh.execCommand(command, stdin === undefined ? {} : { stdin });
      if (r.code === null && r.signal === null && !ssh.isConnected()) throw new Error('channel closed');
      return { code: r.code, stdout: r.stdout, stderr: r.stderr };
    });
  }

  /** Opens a TCP channel to `host:port` as seen from the node (RFC 4254 7.2 direct-tcpip). */
  async forward(host: string, port: number): Promise<Duplex> {
    return this.run(`forwarding to ${host}:${port} on the node`, async (_sftp, ssh) => {
      const client = ssh.connection as unknown as Ssh2Client;
      return new Promise<Duplex>((resolve, reject) => client.forwardOut('127.0.0.1', 0, host, port, (err, stream) => (err ? reject(err) : resolve(stream))));
    });
  }

  /** Ends the connection for good. */
  close(): void {
    this.closedByUs = true;
    this.sftpSession?.end();
    this.ssh?.dispose();
    this.ssh = undefined;
  }
}

/** Promisifies one SFTP callback call. */
export function sftpCall<T = void>(fn: (cb: Cb<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

/** Whether an SFTP error is "no such file". */
export function isNoSuchFile(e: unknown): boolean {
  return (e as { code?: unknown })?.code === SFTP_NO_SUCH_FILE;
}
