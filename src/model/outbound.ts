/** Outbound route ordering, shared by validation and the compiler. */
import type { OutboundRoute } from './types.js';

/**
 * Routes in the order they are tried: emergency routes first, then ascending priority, then
 * repo order (Array.prototype.sort is stable).
 */
export function routeOrder(routes: Iterable<OutboundRoute>): OutboundRoute[] {
  return [...routes].sort((a, b) => Number(!!b.emergency) - Number(!!a.emergency) || a.priority - b.priority);
}
