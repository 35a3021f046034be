/**
 * An in-memory CallChannel for flow tests: prompts "play" for a set duration on fake or real
 * timers, digits are injected with press(), dial outcomes are scripted per target number.
 */
import type { AnsweredLeg, BridgeEnd, CallChannel, DialOutcome, DialRequest, Party } from '../../src/daemon/channel.js';
import { CallAborted } from '../../src/daemon/tasks.js';
import type { RtpPacket } from '../../src/media/rtp-endpoint.js';
import { recordAudio, type RecordOptions, type RecordResult } from '../../src/media/rtp-recorder.js';

/** What a scripted callee does when rung: answer after ms, or fail with a status after ms. */
export type CalleeScript = { answerAfterMs: number } | { failAfterMs: number; status: number };

export class FakeChannel implements CallChannel {
  readonly callId: string;
  readonly caller: Party;
  readonly dialed: string;
  answered = false;
  ringing = false;
  private readonly hangupController = new AbortController();
  readonly hungUp = this.hangupController.signal;
  /** Everything the flow did, in order: `play:greeting.wav`, `stop:greeting.wav`, `dial:1001,1002`, `bridge:1002`, `hangup:480`. */
  readonly log: string[] = [];
  readonly dials: DialRequest[] = [];
  promptMs = 1000;
  callees: Record<string, CalleeScript> = {};
  /** How long a bridge lasts before the callee hangs up (ms). */
  bridgeMs = 500;
  hangupStatus: number | undefined;
  private readonly digitListeners = new Set<(d: string) => void>();
  private readonly packetListeners = new Set<(p: RtpPacket) => void>();
  /** Called when a recording starts (feed it with sendRtp / press). */
  onRecordStart: (() => void) | undefined;

  constructor(o: { callId?: string; caller?: Party; dialed?: string } = {}) {
    this.callId = o.callId ?? 'call-1';
    this.caller = o.caller ?? { number: '+15551230000' };
    this.dialed = o.dialed ?? '+15550100';
  }

  press(digits: string): void {
    for (const d of digits) for (const l of this.digitListeners) l(d);
  }

  callerHangsUp(): void {
    this.log.push('caller-bye');
    this.hangupController.abort(new CallAborted('caller hung up'));
  }

  async ring(): Promise<void> {
    if (!this.ringing) this.log.push('ring');
    this.ringing = true;
  }

  async answer(): Promise<void> {
    if (!this.answered) this.log.push('answer');
    this.answered = true;
  }

  play(prompt: string, signal: AbortSignal): Promise<void> {
    this.log.push(`play:${prompt}`);
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, this.promptMs);
      const onAbort = () => {
        clearTimeout(timer);
        this.log.push(`stop:${prompt}`);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Logs `moh:a.wav,b.wav` when it starts and `moh-stop` when the flow stops it. */
  playMusicOnHold(files: readonly string[], signal: AbortSignal): Promise<never> {
    this.log.push(`moh:${files.join(',')}`);
    return new Promise((_resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      signal.addEventListener(
        'abort',
        () => {
          this.log.push('moh-stop');
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  /** Delivers an RTP packet from the caller to a running record(). */
  sendRtp(p: RtpPacket): void {
    for (const l of this.packetListeners) l(p);
  }

  record(options: RecordOptions, signal: AbortSignal): Promise<RecordResult> {
    this.log.push('record');
    const result = recordAudio(
      {
        onPacket: (l) => {
          this.packetListeners.add(l);
          return () => this.packetListeners.delete(l);
        },
        onDigit: (l) => this.onDigit(l),
      },
      options,
      signal,
    );
    this.onRecordStart?.();
    return result;
  }

  onDigit(listener: (digit: string) => void): () => void {
    this.digitListeners.add(listener);
    return () => this.digitListeners.delete(listener);
  }

  dial(request: DialRequest, signal: AbortSignal): Promise<DialOutcome> {
    this.dials.push(request);
    this.log.push(`dial:${request.targets.map((t) => t.number).join(',')}`);
    return new Promise((resolve, reject) => {
      const timers: NodeJS.Timeout[] = [];
      const statuses: Record<string, number> = {};
      let pending = request.targets.length;
      const finish = (o: DialOutcome) => {
        timers.forEach(clearTimeout);
        signal.removeEventListener('abort', onAbort);
        resolve(o);
      };
      const onAbort = () => {
        timers.forEach(clearTimeout);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const failOne = (number: string, status: number) => {
        statuses[number] = status;
        if (--pending === 0) {
          const all = Object.values(statuses);
          finish({ result: all.every((s) => s === 486 || s === 600) ? 'busy' : all.some((s) => s === 408) ? 'no-answer' : 'failed', statuses });
        }
      };
      for (const t of request.targets) {
        const script = this.callees[t.number] ?? { failAfterMs: 0, status: 480 };
        if ('answerAfterMs' in script && script.answerAfterMs < Math.min(t.ringTimeoutMs, request.timeoutMs)) {
          timers.push(
            setTimeout(() => {
              const leg: AnsweredLeg = { target: t, callId: `leg-${t.number}`, hangup: async () => void this.log.push(`leg-bye:${t.number}`) };
              this.log.push(`answered:${t.number}`);
              finish({ answered: leg });
            }, script.answerAfterMs),
          );
        } else if ('failAfterMs' in script && script.failAfterMs < Math.min(t.ringTimeoutMs, request.timeoutMs)) {
          timers.push(setTimeout(() => failOne(t.number, script.status), script.failAfterMs));
        } else {
          timers.push(setTimeout(() => failOne(t.number, 408), Math.min(t.ringTimeoutMs, request.timeoutMs)));
        }
      }
    });
  }

  bridge(leg: AnsweredLeg, signal: AbortSignal): Promise<BridgeEnd> {
    this.answered = true;
    this.log.push(`bridge:${leg.target.number}`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve({ endedBy: 'callee' });
      }, this.bridgeMs);
      const onAbort = () => {
        clearTimeout(timer);
        void leg.hangup();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async hangup(status?: number): Promise<void> {
    if (this.hangupStatus !== undefined) return;
    this.hangupStatus = this.answered ? 0 : (status ?? 480);
    this.log.push(this.answered ? 'bye' : `reject:${this.hangupStatus}`);
  }
}
