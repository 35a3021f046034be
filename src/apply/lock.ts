/**
 * The per-node apply lock (state/lock.json), created with an exclusive create so that of two
 * concurrent applies exactly one proceeds. Like Terraform's state lock it is never broken
 * automatically: a stale lock is reported with its holder, and `pbxctl force-unlock ID` removes it.
 */
import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { PbxError } from '../lib/errors.js';
import { ExitCode } from '../lib/exit-codes.js';
import type { Target } from '../targets/target.js';

export const LOCK_PATH = 'state/lock.json';

/** What the lock file records. */
export interface LockInfo {
  id: string;
  holder: string;
  host: string;
  pid: number;
  command: string;
  createdAt: string;
}

/** `user@host` of this process. */
export function whoami(): string {
  let user = process.env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep $USER
  }
  return `${user}@${hostname()}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reads the current lock, if any. */
export async function readLock(target: Target): Promise<LockInfo | undefined> {
  const text = await target.readText(LOCK_PATH);
  if (!text) return undefined;
  try {
    return JSON.parse(text) as LockInfo;
  } catch {
    return { id: 'unreadable', holder: 'unknown', host: 'unknown', pid: 0, command: 'unknown', createdAt: 'unknown' };
  }
}

/**
 * Takes the lock, waiting up to `timeoutMs` (polling every 250 ms) for another holder to release it.
 * @throws PbxError LOCKED (exit code 75) naming the holder, and whether the lock looks stale
 */
export async function acquireLock(target: Target, command: string, timeoutMs = 0): Promise<LockInfo> {
  const info: LockInfo = { id: randomUUID(), holder: whoami(), host: hostname(), pid: process.pid, command, createdAt: new Date().toISOString() };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await target.createExclusive(LOCK_PATH, `${JSON.stringify(info, null, 2)}\n`)) return info;
    if (Date.now() >= deadline) {
      const held = await readLock(target);
      const stale = held && held.host === hostname() && held.pid > 0 && !alive(held.pid);
      throw new PbxError('LOCKED', `node ${target.name} is locked by ${held?.holder ?? 'someone'} (${held?.command ?? '?'}, since ${held?.createdAt ?? '?'}, lock ID ${held?.id ?? '?'})${stale ? `; process ${held!.pid} is no longer running, so the lock is stale` : ''}`, {
        exitCode: ExitCode.Locked,
        hint: stale ? `Make sure no apply is running, then: pbxctl force-unlock ${held!.id}` : 'Wait for it to finish, or pass --lock-timeout 60s to wait.',
      });
    }
    await new Promise((r) => setTimeout(r, Math.min(250, Math.max(1, deadline - Date.now()))));
  }
}

/** Releases our lock (only if it is still ours). */
export async function releaseLock(target: Target, lock: LockInfo): Promise<void> {
  const held = await readLock(target);
  if (held?.id === lock.id) await target.remove(LOCK_PATH);
}

/**
 * Removes the lock with this id, whoever holds it.
 * @throws PbxError LOCK_MISMATCH when the node holds no lock or a different one
 */
export async function forceUnlock(target: Target, id: string): Promise<LockInfo> {
  const held = await readLock(target);
  if (!held) throw new PbxError('NOT_LOCKED', `node ${target.name} is not locked`);
  if (held.id !== id) throw new PbxError('LOCK_MISMATCH', `node ${target.name} is locked with ID ${held.id}, not ${id}`, { hint: `Held by ${held.holder} (${held.command}) since ${held.createdAt}.` });
  await target.remove(LOCK_PATH);
  return held;
}
