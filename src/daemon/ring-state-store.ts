/**
 * Persistent ring-group strategy state (round-robin position, least-recent timestamps), so a
 * rotation survives a daemon restart. One JSON file, `STATE_DIR/ring-groups.json`, rewritten
 * atomically (temp file + fsync + rename) after each change, writes coalesced so a burst of calls
 * costs one write. A missing or unreadable file starts empty (the rotation restarts; nothing else
 * depends on it).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Per-group opaque strategy state (ring-strategy.ts defines its shape). */
export interface RingStateStore {
  get(groupId: string): unknown;
  set(groupId: string, state: unknown): void;
  /** Resolves when everything set so far is on disk. */
  flush(): Promise<void>;
}

/** An in-memory store (tests, and nodes without a state directory). */
export class MemoryRingStateStore implements RingStateStore {
  private readonly states = new Map<string, unknown>();
  get(groupId: string): unknown {
    return this.states.get(groupId);
  }
  set(groupId: string, state: unknown): void {
    this.states.set(groupId, state);
  }
  async flush(): Promise<void> {}
}

/** The file-backed store. */
export class FileRingStateStore implements RingStateStore {
  private readonly states: Record<string, unknown>;
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;
  readonly file: string;

  /** @param stateDir the daemon's state directory (created if missing) */
  constructor(stateDir: string) {
    this.file = join(stateDir, 'ring-groups.json');
    mkdirSync(dirname(this.file), { recursive: true });
    let loaded: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(readFileSync(this.file, 'utf8'));
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) loaded = parsed as Record<string, unknown>;
    } catch {
      // First start, or a damaged file: rotations start over.
    }
    this.states = loaded;
  }

  get(groupId: string): unknown {
    return this.states[groupId];
  }

  set(groupId: string, state: unknown): void {
    this.states[groupId] = state;
    if (this.dirty) return;
    this.dirty = true;
    this.writing = this.writing.then(() => this.write()).catch(() => undefined);
  }

  private async write(): Promise<void> {
    this.dirty = false;
    const tmp = `${this.file}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(this.states)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
  }

  flush(): Promise<void> {
    return this.writing;
  }
}
