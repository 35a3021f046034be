/**
 * `pbxctl calls tail` behind the thin command: the ink view on a terminal, JSON lines otherwise,
 * or one snapshot with `--once`.
 */
import { createElement } from 'react';
import type { render as inkRender } from 'ink';
import type { Target } from '../targets/target.js';
import type { CallsApp as CallsAppComponent } from './CallsApp.js';
import { startLiveStore } from './live-store.js';
import { applyEvent, emptyModel, type LiveModel } from './model/live-model.js';
import { matchesFilter, visibleCalls } from './model/view.js';
import { colorWanted } from './palette.js';
import { callsTable } from './snapshot-output.js';
import { hangupCall, readSnapshot } from './source.js';

/** Options of {@link runTail}. */
export interface TailOptions {
  /** JSON lines instead of the terminal view. */
  json: boolean;
  once: boolean;
  filter: string;
  /** Where lines go (stdout by default). */
  write?: (line: string) => void;
  /** Number -> name from the repo (readRepoContext). */
  directory?: ReadonlyMap<string, string>;
  /** Resolves when streaming JSON should stop (SIGINT/SIGTERM by default). */
  until?: Promise<void>;
}

/** True when a raw event concerns a call matching `filter` (in the model before or after it), or mentions it. */
export function eventMatches(before: LiveModel, after: LiveModel, raw: unknown, filter: string): boolean {
  if (!filter) return true;
  const id = raw && typeof raw === 'object' ? (raw as { callId?: unknown }).callId : undefined;
  if (typeof id === 'string') {
    const c = after.calls.get(id) ?? before.calls.get(id);
    if (c) return matchesFilter(c, filter);
  }
  return JSON.stringify(raw).toLowerCase().includes(filter.toLowerCase());
}

/**
 * Loads ink for a live view on a real terminal. ink reads `CI` / `CONTINUOUS_INTEGRATION` once, when
 * it is first imported (the is-in-ci package), and then renders only the final frame at exit: an
 * operator in a shell that carries a CI variable (a runner's debug shell, a tmux session started by
 * a pipeline) would stare at a blank screen. The caller has a TTY and asked for the live view, so
 * those variables are cleared for this process before ink loads; the view never runs without a TTY.
 */
async function loadInteractiveView(): Promise<{ render: typeof inkRender; CallsApp: typeof CallsAppComponent }> {
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
  const [{ render }, { CallsApp }] = await Promise.all([import('ink'), import('./CallsApp.js')]);
  return { render, CallsApp };
}

function signalled(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/**
 * Runs the tail on an open target until the user quits (or, for JSON, until `until` resolves).
 * @throws PbxError from the first snapshot (KAMAILIO_UNREACHABLE, DAEMON_UNREACHABLE) with `once`
 */
export async function runTail(target: Target, o: TailOptions): Promise<void> {
  const write = o.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  if (o.once) {
    const now = Date.now();
    const calls = visibleCalls(await readSnapshot(target, now, o.directory), o.filter, 'longest');
    if (o.json) for (const c of calls) write(JSON.stringify(c));
    else write(callsTable(calls, now, process.stdout.columns || 160));
    return;
  }
  if (o.json) {
    let model = emptyModel(target.name, o.directory);
    const store = startLiveStore(target, {
      ...(o.directory ? { directory: o.directory } : {}),
      onEvent: (e) => {
        const before = model;
        model = applyEvent(model, e);
        if (eventMatches(before, model, e, o.filter)) write(JSON.stringify(e));
      },
      onError: (e) => process.stderr.write(`pbxctl calls tail: ${e instanceof Error ? e.message : String(e)}\n`),
    });
    try {
      await (o.until ?? signalled());
    } finally {
      store.close();
    }
    return;
  }
  const { render, CallsApp } = await loadInteractiveView();
  let lastError = '';
  const store = startLiveStore(target, { ...(o.directory ? { directory: o.directory } : {}), onError: (e) => (lastError = e instanceof Error ? e.message : String(e)) });
  const app = render(
    createElement(CallsApp, {
      store,
      color: colorWanted(),
      initialFilter: o.filter,
      hangup: async (c) => `hung up ${c.callId} via ${await hangupCall(target, c.callId, c)}`,
    }),
    { exitOnCtrlC: true },
  );
  try {
    await app.waitUntilExit();
  } finally {
    store.close();
    if (lastError) process.stderr.write(`pbxctl calls tail: last snapshot error: ${lastError}\n`);
  }
}
