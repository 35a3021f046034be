/**
 * Outbound routing: patterns compile, earlier routes do not swallow later ones, routes of equal
 * priority do not compete for the same numbers, and an emergency route exists.
 */
import { compileDialPattern, covers, DialPatternError, overlaps, type DialPattern } from '../../model/dial-pattern.js';
import { routeOrder } from '../../model/outbound.js';
import type { OutboundRoute } from '../../model/types.js';
import type { CheckContext } from './context.js';

interface Compiled {
  route: OutboundRoute;
  index: number;
  pattern: DialPattern;
}

export function checkOutbound(ctx: CheckContext): void {
  const routes = ctx.resources.map((lr) => lr.resource).filter((r): r is OutboundRoute => r.kind === 'OutboundRoute');
  if (routes.length === 0) return;
  const compiled: Compiled[] = [];
  for (const route of routeOrder(routes)) {
    route.patterns.forEach((source, index) => {
      try {
        compiled.push({ route, index, pattern: compileDialPattern(source) });
      } catch (e) {
        if (!(e instanceof DialPatternError)) throw e;
        const at = ctx.at(route, ['patterns', index]);
        ctx.error('invalid-dial-pattern', at, `outbound route ${route.id}: pattern "${source}": ${e.message}`, 'Asterisk style: _ then X (0-9), Z (1-9), N (2-9), [1-5], digits, and . or ! at the end; or /regex/; or a literal number.');
      }
    });
  }
  for (let j = 0; j < compiled.length; j++) {
    const later = compiled[j]!;
    for (let i = 0; i < j; i++) {
      const earlier = compiled[i]!;
      const at = ctx.at(later.route, ['patterns', later.index]);
      const where = earlier.route === later.route ? `earlier in the same route` : `by route ${earlier.route.id} (priority ${earlier.route.priority}${earlier.route.emergency ? ', emergency' : ''})`;
      if (covers(earlier.pattern, later.pattern)) {
        ctx.warn('dial-pattern-shadowed', at, `outbound route ${later.route.id}: pattern "${later.pattern.source}" can never match; every number it matches is taken first by "${earlier.pattern.source}" ${where}`, 'Give this route a lower priority number than the other, narrow the earlier pattern, or remove this one.', [ctx.at(earlier.route, ['patterns', earlier.index])]);
        break;
      }
      if (earlier.route !== later.route && earlier.route.priority === later.route.priority && !!earlier.route.emergency === !!later.route.emergency && overlaps(earlier.pattern, later.pattern)) {
        ctx.warn('dial-pattern-ambiguous', at, `outbound routes ${earlier.route.id} and ${later.route.id} have the same priority ${later.route.priority} and both match some numbers ("${earlier.pattern.source}", "${later.pattern.source}")`, 'Give them different priorities so the order is explicit.', [ctx.at(earlier.route, ['patterns', earlier.index])]);
        break;
      }
    }
  }
  if (!routes.some((r) => r.emergency)) {
    ctx.warn('no-emergency-route', ctx.at(routes[0]!), 'outbound routes exist but none is an emergency route', 'Add an OutboundRoute with emergency: true for your emergency numbers (911, 112, 999, ...): it is never blocked by permission classes.');
  }
}
