/**
 * RTPengine for a lab node: userspace forwarding only (no kernel module), no config file, in the
 * foreground (NODE-FACTS.md "Starting them for tests"). Readiness is an NG `ping` answered `pong`
 * (rtpengine docs ng_control_protocol.md "ping Message"). The NG client pbxctl uses for calls is
 * src/rtpengine/; the ping here is a private, minimal encoding for this probe only.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { findProgram } from './binaries.js';
import { spawnLogged, waitReady, type LabProcess } from './process.js';

/** Options of {@link startRtpengine}. Ports are UDP on `address`. */
export interface RtpengineOptions {
  /** Path of the rtpengine executable; default: searched in PATH and sbin directories. */
  binary?: string;
  /** Media and NG address, e.g. `127.0.0.1` (`--interface`, `--listen-ng`). */
  address: string;
  /** NG control port (`--listen-ng=ADDRESS:PORT`). */
  ngPort: number;
  /** Media port range (`--port-min`, `--port-max`), inclusive. */
  rtpMin: number;
  rtpMax: number;
  /** PID file path (`--pidfile`). */
  pidFile: string;
  /** Log file receiving stdout and stderr (appended). */
  logFile: string;
  /** `HOST:PORT` receiving one JSON datagram per DTMF event (`--dtmf-log-dest`). */
  dtmfLogDest?: string;
  /** Seconds a deleted call's counters stay queryable (`--delete-delay`); default 0. */
  deleteDelaySec?: number;
  /** Log level 0..7 (`--log-level`); default 6 (info). */
  logLevel?: number;
  /** How long to wait for `pong`, ms; default 10000. */
  timeoutMs?: number;
}

/**
 * The command line that {@link startRtpengine} runs.
 * @throws PbxError LAB_BINARY_MISSING (rtpengine-daemon not installed)
 */
export function rtpengineCommand(o: RtpengineOptions): string[] {
  return [
    findProgram('rtpengine', o.binary),
    '--config-file=none',
    '--table=-1',
    `--interface=${o.address}`,
    `--listen-ng=${o.address}:${o.ngPort}`,
    `--port-min=${o.rtpMin}`,
    `--port-max=${o.rtpMax}`,
    '--foreground',
    '--log-stderr',
    `--log-level=${o.logLevel ?? 6}`,
    `--pidfile=${o.pidFile}`,
    `--delete-delay=${o.deleteDelaySec ?? 0}`,
    '--num-threads=2',
    ...(o.dtmfLogDest ? [`--dtmf-log-dest=${o.dtmfLogDest}`] : []),
  ];
}

/**
 * Sends one NG `ping` to `host:port` and resolves true when the reply (same cookie) says `pong`.
 * @param timeoutMs how long to wait for the reply, ms (default 500); false on timeout or error
 */
export function ngPing(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const cookie = randomBytes(6).toString('hex');
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('error', () => done(false));
    socket.on('message', (msg) => {
      const text = msg.toString('latin1');
      // Reply: "COOKIE d6:result4:ponge" (bencode dictionary {result: "pong"}).
      if (text.startsWith(`${cookie} `)) done(text.slice(cookie.length + 1).includes('6:result4:pong'));
    });
    // Request: "COOKIE d7:command4:pinge" (bencode dictionary {command: "ping"}).
    socket.send(Buffer.from(`${cookie} d7:command4:pinge`, 'latin1'), port, host, (err) => {
      if (err) done(false);
    });
  });
}

/**
 * Starts RTPengine in the foreground and waits until it answers an NG ping.
 * @returns the running process (stop it with stopProcess(pid))
 * @throws PbxError LAB_BINARY_MISSING (install rtpengine-daemon), LAB_START_FAILED (it exited, e.g.
 *   a port in use; the error quotes its log), LAB_NOT_READY (no pong within timeoutMs; it was stopped)
 */
export async function startRtpengine(o: RtpengineOptions): Promise<LabProcess> {
  await mkdir(dirname(o.pidFile), { recursive: true });
  const { proc, exited } = spawnLogged('rtpengine', rtpengineCommand(o), o.logFile);
  await waitReady(proc, exited, () => ngPing(o.address, o.ngPort), `an NG ping on ${o.address}:${o.ngPort}`, o.timeoutMs ?? 10_000);
  return proc;
}
