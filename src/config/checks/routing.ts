/**
 * Call-flow sanity: routing loops that never reach a person, resources nothing routes to,
 * empty ring groups and agentless queues, IVR options that direct dialing makes ambiguous,
 * and DIDs claimed twice.
 */
import { formatPosition, type SourcePosition } from '../../lib/diagnostics.js';
import { parseDestination } from '../../model/destination.js';
import { destinationFields, selfDestination } from '../../model/references.js';
import type { Resource } from '../../model/types.js';
import type { CheckContext } from './context.js';

interface Edge {
  to: string;
  at: SourcePosition;
  field: string;
}

/**
 * Finds cycles of continuation edges (fallback, overflow, forwards, IVR timeout/invalid,
 * schedule branches) with Tarjan's strongly connected components. Each cycle is reported once,
 * at the edge leaving its first node in repo order.
 */
export function checkLoops(ctx: CheckContext): void {
  const graph = new Map<string, Edge[]>();
  const order: string[] = [];
  for (const { resource: r } of ctx.resources) {
    const self = selfDestination(r);
    if (!self || graph.has(self)) continue;
    order.push(self);
    const edges: Edge[] = [];
    for (const f of destinationFields(r)) {
      if (f.edge !== 'continuation') continue;
      const d = parseDestination(f.destination);
      // voicemail, external, conference and hangup end a call flow: they cannot loop.
      if (!d || !['extension', 'ring-group', 'queue', 'ivr', 'schedule'].includes(d.type)) continue;
      edges.push({ to: f.destination, at: ctx.at(r, f.path), field: f.path.join('.') });
    }
    graph.set(self, edges);
  }

  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  // Iterative Tarjan: call-flow graphs of large sites would overflow recursion.
  for (const start of order) {
    if (idx.has(start)) continue;
    const work: { node: string; edge: number }[] = [{ node: start, edge: 0 }];
    idx.set(start, index); low.set(start, index); index++; stack.push(start); onStack.add(start);
    while (work.length) {
      const top = work[work.length - 1]!;
      const edges = graph.get(top.node) ?? [];
      if (top.edge < edges.length) {
        const to = edges[top.edge++]!.to;
        if (!graph.has(to)) continue;
        if (!idx.has(to)) {
          idx.set(to, index); low.set(to, index); index++; stack.push(to); onStack.add(to);
          work.push({ node: to, edge: 0 });
        } else if (onStack.has(to)) low.set(top.node, Math.min(low.get(top.node)!, idx.get(to)!));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1]!.node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === idx.get(top.node)) {
        const comp: string[] = [];
        let n: string;
        do {
          n = stack.pop()!;
          onStack.delete(n);
          comp.push(n);
        } while (n !== top.node);
        const selfLoop = comp.length === 1 && (graph.get(comp[0]!) ?? []).some((e) => e.to === comp[0]);
        if (comp.length > 1 || selfLoop) components.push(comp);
      }
    }
  }

  for (const comp of components) {
    const members = new Set(comp);
    const first = order.find((n) => members.has(n))!;
    const cycle = findCycle(graph, first, members);
    const firstEdge = (graph.get(first) ?? []).find((e) => e.to === cycle[1])!;
    const related = cycle.slice(1, -1).map((n) => (graph.get(n) ?? []).find((e) => members.has(e.to))!.at);
    ctx.error(
      'routing-loop', firstEdge.at,
      `routing loop that never reaches a person: ${cycle.join(' -> ')}`,
      `A call that nobody answers goes round forever. Point one of these at voicemail, a person or hangup (${firstEdge.field} here).`,
      related,
    );
  }
}

/** A shortest cycle through `start` inside one component (BFS), as [start, ..., start]. */
function findCycle(graph: Map<string, Edge[]>, start: string, members: Set<string>): string[] {
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const n = queue.shift()!;
    for (const e of graph.get(n) ?? []) {
      if (!members.has(e.to)) continue;
      if (e.to === start) {
        const path = [start];
        for (let c = n; c !== start; c = prev.get(c)!) path.splice(1, 0, c);
        return [...path, start];
      }
      if (!prev.has(e.to)) {
        prev.set(e.to, n);
        queue.push(e.to);
      }
    }
  }
  return [start, start];
}

/** Empty ring groups, agentless queues, duplicate members, IVR options shadowed by direct dial. */
export function checkCallFlows(ctx: CheckContext): void {
  const extNumbers = [...ctx.state.extensions.keys()];
  for (const { resource: r } of ctx.resources) {
    if (r.kind === 'RingGroup') {
      if (r.members.length === 0) ctx.warn('empty-ring-group', ctx.at(r, ['members']), `ring group ${r.id} has no members`, `Calls to it ring nobody and go straight to ${r.fallback ?? 'hangup'}.`);
      duplicates(ctx, r, 'members', r.members.map((m) => m.extension ?? m.external ?? ''));
    }
    if (r.kind === 'Queue') {
      if (r.agents.length === 0) ctx.warn('queue-without-agents', ctx.at(r, ['agents']), `queue ${r.id} has no agents`, `Callers wait until ${r.overflow ? `overflow to ${r.overflow}` : 'they hang up'}; add agents.`);
      duplicates(ctx, r, 'agents', r.agents.map((a) => a.extension));
    }
    if (r.kind === 'IVR' && r.directDial) {
      for (const digit of Object.keys(r.options)) {
        const clash = extNumbers.filter((n) => n.startsWith(digit));
        if (clash.length) {
          ctx.warn('ivr-option-ambiguous', ctx.at(r, ['options', digit], true),
            `IVR ${r.id}: option "${digit}" is also the first digit of ${clash.length} extension(s) (e.g. ${clash[0]}), so with directDial the menu must wait for more digits before acting on it`,
            'Use option digits no extension starts with, or turn directDial off.');
        }
      }
    }
  }
}

function duplicates(ctx: CheckContext, r: Resource, field: string, keys: string[]): void {
  const seen = new Map<string, number>();
  keys.forEach((k, i) => {
    const j = seen.get(k);
    if (j !== undefined) ctx.warn('duplicate-member', ctx.at(r, [field, i]), `${k} is listed twice in ${field} (first at ${formatPosition(ctx.at(r, [field, j]))})`, 'Remove the repeat.');
    else seen.set(k, i);
  });
}

/** IVRs, ring groups, queues and schedules that no number, route or destination reaches. */
export function checkReachability(ctx: CheckContext): void {
  const referenced = new Set<string>();
  for (const { resource: r } of ctx.resources) {
    for (const f of destinationFields(r)) {
      // A resource's reference to itself (an IVR "repeat" option) does not make it reachable.
      if (f.destination !== selfDestination(r)) referenced.add(f.destination);
    }
  }
  const scheduled = new Set([...ctx.state.inboundRoutes.values()].map((ir) => ir.schedule));
  for (const { resource: r } of ctx.resources) {
    if (r.kind === 'Schedule') {
      if (!scheduled.has(r.id) && !referenced.has(selfDestination(r)!)) {
        ctx.warn('unreachable', r.source, `schedule ${r.id} is used by no inbound route or destination`, 'Reference it with schedule: in an InboundRoute, or delete it.');
      }
      continue;
    }
    if (r.kind !== 'IVR' && r.kind !== 'RingGroup' && r.kind !== 'Queue') continue;
    if (r.number !== undefined || referenced.has(selfDestination(r)!)) continue;
    ctx.warn('unreachable', r.source, `${selfDestination(r)} has no number and nothing routes to it`, 'Give it a number, or route an inbound route, IVR option or fallback to it; or delete it.');
  }
}

/** Each DID belongs to one inbound route. */
export function checkDids(ctx: CheckContext): void {
  const owner = new Map<string, SourcePosition>();
  for (const { resource: r } of ctx.resources) {
    if (r.kind !== 'InboundRoute') continue;
    r.dids.forEach((did, i) => {
      const at = ctx.at(r, ['dids', i]);
      const prev = owner.get(did);
      if (prev) ctx.error('duplicate-did', at, `DID ${did} is also routed at ${formatPosition(prev)}`, 'A DID can have one inbound route; remove it from one of them.', [prev]);
      else owner.set(did, at);
    });
  }
}
