/**
 * The queue module's HTTP routes (api.ts ApiRoute), on the daemon's authenticated loopback API:
 *
 *   GET  /v1/queues                         {queues: QueueStats[], agents: AgentView[]}
 *   GET  /v1/queues/:id                     QueueStats & {agents: AgentView[] (this queue's)}; 404 unknown
 *   POST /v1/queues/agents/:ext/login       ?queue=Q (default: every queue the extension serves)
 *   POST /v1/queues/agents/:ext/logout      ?queue=Q (default: every queue it is logged in to)
 *   POST /v1/queues/agents/:ext/pause       ?queue=Q&reason=TEXT
 *   POST /v1/queues/agents/:ext/unpause     ?queue=Q
 *        -> 200 {extension, action, queues: [ids changed], agent: AgentView}; 422 {error, code, hint}
 *           for QUEUE_UNKNOWN / QUEUE_NOT_AGENT / QUEUE_NOT_LOGGED_IN (PbxError, api.ts)
 *
 * Changes are durable (SQLite) before the answer and publish `agent.state` events.
 */
import type { ApiRoute } from '../api.js';
import type { AgentView, QueueManager } from './manager.js';
import type { QueueStats } from './stats.js';

/** What `POST /v1/queues/agents/:ext/:action` answers. */
export interface AgentActionReply {
  extension: string;
  action: AgentAction;
  queues: string[];
  agent?: AgentView;
}

/** The agent actions of the API and of `pbxctl queue agent`. */
export type AgentAction = 'login' | 'logout' | 'pause' | 'unpause';

/** What `GET /v1/queues` answers. */
export interface QueuesReply {
  queues: QueueStats[];
  agents: AgentView[];
}

/** The routes of the queue module. */
export function queueRoutes(manager: QueueManager): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: /^\/v1\/queues$/,
      handle: () => ({ status: 200, body: { queues: manager.queueIds().map((id) => manager.queueStats(id)!), agents: manager.agentViews() } satisfies QueuesReply }),
    },
    {
      method: 'POST',
      path: /^\/v1\/queues\/agents\/([^/]+)\/(login|logout|pause|unpause)$/,
      handle: ({ params, query }) => {
        const [ext, action] = params as [string, AgentAction];
        if (!/^[0-9]{2,8}$/.test(ext)) return { status: 400, body: { error: `${ext} is not an extension number` } };
        const queue = query.get('queue') ?? undefined;
        const reason = query.get('reason') ?? undefined;
        const queues =
          action === 'login' ? manager.login(ext, queue) : action === 'logout' ? manager.logout(ext, queue) : manager.setPaused(ext, action === 'pause', queue, action === 'pause' ? (reason ?? 'api') : undefined);
        const agent = manager.agentViews().find((a) => a.extension === ext);
        return { status: 200, body: { extension: ext, action, queues, ...(agent ? { agent } : {}) } satisfies AgentActionReply };
      },
    },
    {
      method: 'GET',
      path: /^\/v1\/queues\/([^/]+)$/,
      handle: ({ params }) => {
        const id = params[0]!;
        const stats = manager.queueStats(id);
        if (!stats) return { status: 404, body: { error: `no queue ${id}` } };
        return { status: 200, body: { ...stats, agents: manager.agentViews().filter((a) => manager.isAgentOf(a.extension, id)) } };
      },
    },
  ];
}
