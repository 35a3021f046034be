/**
 * Text tables of `pbxctl registrations` and `pbxctl queues`, and the `--watch` loop they share:
 * redraw when the daemon reports a relevant event (and every `periodMs` as a floor, for expiry
 * countdowns and nodes without a daemon).
 */
import type { QueuesReply } from '../daemon/queue/api.js';
import type { RegisteredContact } from '../kamailio/node-status.js';
import type { Target } from '../targets/target.js';
import { followEvents } from './event-stream.js';
import { fit, formatDuration } from './model/view.js';
import { daemonOf } from './source.js';

/** One extension's registrations as `pbxctl registrations` reports them. */
export interface ExtensionRegistrations {
  extension: string;
  /** Display name from the deployed inventory, when known. */
  name?: string;
  configured: boolean;
  contacts: RegisteredContact[];
}

/** The registrations table: one line per contact; configured extensions without one show `-`. */
export function registrationsTable(rows: readonly ExtensionRegistrations[], width: number, all: boolean): string {
  const lines = [fit(`${'EXTENSION'.padEnd(24)} ${'EXPIRES'.padEnd(8)} ${'SOURCE'.padEnd(22)} ${'USER AGENT'.padEnd(24)} CONTACT`, width).trimEnd()];
  for (const r of rows) {
    const label = `${r.extension}${r.name ? ` ${r.name}` : ''}${r.configured ? '' : ' (not configured)'}`;
    if (r.contacts.length === 0) {
      if (all) lines.push(fit(`${fit(label, 24)} -`, width).trimEnd());
      continue;
    }
    for (const c of r.contacts) {
      lines.push(fit(`${fit(label, 24)} ${fit(c.expires === null ? 'permanent' : `${c.expires}s`, 8)} ${fit(c.received ?? sourceOf(c.address), 22)} ${fit(c.userAgent ?? '', 24)} ${c.address}`, width).trimEnd());
    }
  }
  return lines.length === 1 ? 'No registered phones.' : lines.join('\n');
}

/** `IP:PORT` from a contact URI (`sip:1001@10.0.0.5:5060;ob` -> `10.0.0.5:5060`). */
export function sourceOf(contact: string): string {
  const m = /@([^;>]+)/.exec(contact);
  return m?.[1] ?? contact;
}

/** The queues table (one line per queue, its waiting callers under it) and the agents table. */
export function queuesTable(r: QueuesReply, width: number): string {
  const out: string[] = [];
  out.push(fit(`${'QUEUE'.padEnd(14)} ${'WAITING'.padEnd(8)} ${'LONGEST'.padEnd(8)} ${'AGENTS'.padEnd(12)} ${'ANSWERED'.padEnd(9)} ${'ABANDONED'.padEnd(10)} SERVICE LEVEL`, width).trimEnd());
  for (const q of r.queues) {
    const sl = q.serviceLevel === null ? '-' : `${Math.round(q.serviceLevel * 100)}% in ${q.serviceLevelS}s`;
    out.push(fit(`${fit(q.queue, 14)} ${fit(String(q.waiting), 8)} ${fit(formatDuration(q.longestWaitMs), 8)} ${fit(`${q.agentsAvailable}/${q.agentsLoggedIn} free`, 12)} ${fit(String(q.answered), 9)} ${fit(String(q.abandoned), 10)} ${sl}`, width).trimEnd());
    for (const c of q.callers ?? []) {
      const ringing = c.ringing.length ? `  ringing ${c.ringing.join(', ')}` : '';
      out.push(fit(`  #${c.position} ${c.caller.number}${c.caller.name ? ` ${c.caller.name}` : ''}  waiting ${formatDuration(c.waitMs)}${ringing}`, width).trimEnd());
    }
  }
  if (r.queues.length === 0) out.push('No queues configured.');
  out.push('');
  out.push(fit(`${'AGENT'.padEnd(10)} ${'ACTIVITY'.padEnd(12)} ${'ANSWERED'.padEnd(9)} QUEUES`, width).trimEnd());
  for (const a of r.agents) {
    const qs = a.queues.map((q) => `${q.queue}${q.paused ? ` (paused${q.pauseReason ? `: ${q.pauseReason}` : ''})` : ''}`).join(', ');
    out.push(fit(`${fit(a.extension, 10)} ${fit(a.activity, 12)} ${fit(String(a.callsAnswered), 9)} ${qs || 'logged out'}`, width).trimEnd());
  }
  if (r.agents.length === 0) out.push('No agents.');
  return out.join('\n');
}

/**
 * Redraws `draw()` until SIGINT/SIGTERM (or `until`): at once, on every daemon event whose type
 * passes `relevant`, and every `periodMs`. On a terminal the screen is cleared before each draw.
 */
export async function watchLoop(target: Target, o: { draw: () => Promise<string>; relevant: (type: string) => boolean; periodMs: number; until?: Promise<void>; write?: (s: string) => void }): Promise<void> {
  const write = o.write ?? ((s: string) => void process.stdout.write(s));
  const tty = o.write === undefined && process.stdout.isTTY;
  let busy = false;
  let again = false;
  let status = '';
  const redraw = async (): Promise<void> => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      const text = await o.draw().catch((e: unknown) => `(cannot read the node: ${e instanceof Error ? e.message : String(e)})`);
      write(`${tty ? '\u001b[H\u001b[2J' : ''}${text}\n${status ? `${status}\n` : ''}${tty ? '' : '\n'}`);
    } finally {
      busy = false;
      if (again) {
        again = false;
        void redraw();
      }
    }
  };
  const daemon = daemonOf(target);
  const stream = daemon
    ? followEvents({
        endpoint: daemon.endpoint,
        onEvent: (e) => {
          const type = e && typeof e === 'object' ? (e as { type?: unknown }).type : undefined;
          if (typeof type === 'string' && o.relevant(type)) void redraw();
        },
        onState: (s, reason) => {
          status = s === 'live' ? '' : `reconnecting to the daemon (${reason ?? ''})`;
        },
      })
    : undefined;
  const timer = setInterval(() => void redraw(), o.periodMs);
  await redraw();
  try {
    await (o.until ?? new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    }));
  } finally {
    clearInterval(timer);
    stream?.stop();
  }
}
