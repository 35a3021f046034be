/**
 * Media health of answered calls for operators (`pbxctl calls tail`): every `intervalMs` (5 s by
 * default), and only while someone follows the event stream, asks RTPengine (`query`, NG protocol)
 * about each answered call and publishes a `call.media` event with its codec, packet count, loss,
 * jitter and MOS. RTPengine computes loss, jitter and MOS from RTCP (RFC 3550 §6.4), so they appear
 * once the endpoints sent RTCP reports; before that only packets and codec are known.
 */
import type { QueryResult } from '../rtpengine/ng-types.js';
import type { CallMediaEvent } from './events.js';

/** What one `call.media` event reports, from one `query` reply. */
export type MediaSummary = Omit<CallMediaEvent, 'type' | 'callId'>;

/**
 * Summarizes a `query` reply: packets received by RTPengine from every party, the codec of the first
 * audio stream that names one, and from the RTCP SSRC table the worst direction's loss (cumulative
 * lost / (received + lost), %), jitter and MOS (RTPengine sends MOS ×10).
 */
export function summarizeQuery(q: QueryResult): MediaSummary {
  const out: MediaSummary = { packets: q.totals?.rtp?.packets ?? 0 };
  for (const t of q.tags ?? []) {
    const codec = t.medias?.find((m) => m.codec)?.codec;
    if (codec) {
      out.codec = codec;
      break;
    }
  }
  for (const s of Object.values(q.ssrc ?? {})) {
    if (typeof s.cumulativeLoss === 'number' && typeof s.packets === 'number' && s.packets + s.cumulativeLoss > 0) {
      const loss = (100 * s.cumulativeLoss) / (s.packets + s.cumulativeLoss);
      out.lossPct = Math.max(out.lossPct ?? 0, Math.round(loss * 10) / 10);
    }
    if (typeof s.jitter === 'number') out.jitterMs = Math.max(out.jitterMs ?? 0, s.jitter);
    if (typeof s.mos === 'number' && s.mos > 0) out.mos = Math.min(out.mos ?? 5, s.mos / 10);
  }
  return out;
}

/** Options of {@link startMediaMonitor}. */
export interface MediaMonitorOptions {
  /** RTPengine `query` of a call (NgClient.query). */
  query(callId: string): Promise<QueryResult>;
  /** Call-IDs of the answered calls right now. */
  answeredCalls(): string[];
  publish(e: CallMediaEvent): void;
  /** True while an operator follows the event stream (no RTPengine queries otherwise). */
  watching(): boolean;
  /** ms between rounds; at least 1000 (5000 by default). */
  intervalMs?: number;
}

/** Starts the monitor; `stop()` ends it. A failing query (call just ended) is skipped, never thrown. */
export function startMediaMonitor(o: MediaMonitorOptions): { stop(): void; round(): Promise<void> } {
  let running = false;
  const round = async (): Promise<void> => {
    if (running || !o.watching()) return;
    running = true;
    try {
      for (const callId of o.answeredCalls()) {
        const q = await o.query(callId).catch(() => undefined);
        if (q) o.publish({ type: 'call.media', callId, ...summarizeQuery(q) });
      }
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void round(), Math.max(1000, o.intervalMs ?? 5000));
  timer.unref();
  return { stop: () => clearInterval(timer), round };
}
