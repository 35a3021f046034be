/**
 * Keeps a live model of a node current: a snapshot first, then the daemon's event stream, and a
 * fresh snapshot after every reconnect (a restarted daemon forgot its calls; a dropped tunnel may
 * have missed more than the backlog). Events that arrive while a snapshot loads are queued and
 * applied on top of it, so nothing is lost in between.
 */
import type { Target } from '../targets/target.js';
import { followEvents } from './event-stream.js';
import { applyEvent, emptyModel, type LiveModel } from './model/live-model.js';
import type { ModelStore } from './CallsApp.js';
import { daemonOf, readSnapshot } from './source.js';

/** A running store; `close()` stops the stream. */
export interface LiveStore extends ModelStore {
  close(): void;
}

/**
 * Starts following `target`. Without a daemon the store holds the snapshot (Kamailio dialogs only).
 * @param o.directory number -> name from the repo, when the command has one
 * @param onEvent every raw event as received (for `--json` output)
 * @param onError a snapshot that failed (shown, then retried on the next reconnect)
 */
export function startLiveStore(target: Target, o: { onEvent?: (e: unknown) => void; onError?: (e: unknown) => void; now?: () => number; directory?: ReadonlyMap<string, string> } = {}): LiveStore {
  const now = o.now ?? Date.now;
  let model: LiveModel = emptyModel(target.name);
  const listeners = new Set<() => void>();
  const emit = () => {
    for (const l of listeners) l();
  };
  let pending: unknown[] | undefined = [];
  let closed = false;

  const snapshot = async () => {
    pending ??= [];
    try {
      const fresh = await readSnapshot(target, now(), o.directory);
      if (closed) return;
      let m: LiveModel = { ...fresh, connection: model.connection, lastSeq: model.lastSeq };
      for (const e of pending) m = applyEvent(m, e);
      model = m;
    } catch (e) {
      o.onError?.(e);
      for (const ev of pending) model = applyEvent(model, ev);
    }
    pending = undefined;
    emit();
  };

  const daemon = daemonOf(target);
  let everLive = false;
  const stream = daemon
    ? followEvents({
        endpoint: daemon.endpoint,
        onEvent: (e) => {
          o.onEvent?.(e);
          if (pending) pending.push(e);
          else {
            model = applyEvent(model, e);
            emit();
          }
        },
        onState: (state) => {
          model = { ...model, connection: state };
          emit();
          if (state === 'live') {
            if (everLive) void snapshot();
            everLive = true;
          }
        },
        onGap: () => void snapshot(),
      })
    : undefined;
  if (!daemon) model = { ...model, connection: 'live' };
  void snapshot();

  return {
    get: () => model,
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    close() {
      closed = true;
      stream?.stop();
    },
  };
}
