/**
 * Kamailio JSON-RPC client: JSON-RPC 2.0 over HTTP POST to the xhttp + jsonrpcs endpoint that the
 * node's script binds to 127.0.0.1 only (jsonrpcs module docs, "transport" 1). Remote nodes are
 * reached through an SSH tunnel to that loopback port.
 */
import { Agent, request } from 'node:http';
import { PbxError } from '../lib/errors.js';

/** An error answer from Kamailio (`{"error": {"code", "message"}}`), e.g. 500 "Ongoing reload". */
export class KamailioRpcError extends PbxError {
  constructor(readonly method: string, readonly rpcCode: number, rpcMessage: string) {
    super('KAMAILIO_RPC_ERROR', `Kamailio RPC ${method} failed: ${rpcCode} ${rpcMessage}`);
  }
}

/** Minimal interface the rest of pbxctl uses, so tests can fake Kamailio. */
export interface KamailioRpc {
  /**
   * Calls `method` with positional `params`; resolves with the JSON-RPC `result`.
   * @throws KamailioRpcError on an error answer; PbxError KAMAILIO_UNREACHABLE when nothing answers
   */
  call<T = unknown>(method: string, params?: (string | number)[]): Promise<T>;
  /** Requests sent so far (benchmarks check it stays bounded). */
  readonly requests: number;
  close(): void;
}

/**
 * A client for `http://host:port/RPC`.
 * @param opts.timeoutMs per request, default 10 000 ms
 */
export function kamailioRpc(opts: { host?: string; port: number; timeoutMs?: number }): KamailioRpc {
  const host = opts.host ?? '127.0.0.1';
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  let id = 0;
  let requests = 0;
  return {
    get requests() {
      return requests;
    },
    close() {
      agent.destroy();
    },
    call<T>(method: string, params: (string | number)[] = []): Promise<T> {
      requests++;
      const body = JSON.stringify({ jsonrpc: '2.0', method, params, id: ++id });
      return new Promise<T>((resolve, reject) => {
        const req = request(
          { host, port: opts.port, path: '/RPC', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: opts.timeoutMs ?? 10_000 },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let msg: { result?: T; error?: { code: number; message: string } };
              try {
                msg = JSON.parse(text) as typeof msg;
              } catch {
                reject(new PbxError('KAMAILIO_RPC_BAD_REPLY', `Kamailio RPC ${method}: HTTP ${res.statusCode} with a body that is not JSON: ${text.slice(0, 200)}`));
                return;
              }
              if (msg.error) reject(new KamailioRpcError(method, msg.error.code, msg.error.message));
              else resolve(msg.result as T);
            });
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new Error(`timed out after ${opts.timeoutMs ?? 10_000} ms`)));
        req.on('error', (err: NodeJS.ErrnoException) => {
          reject(new PbxError('KAMAILIO_UNREACHABLE', `Kamailio JSON-RPC at ${host}:${opts.port} did not answer ${method}: ${err.code ?? err.message}`, {
            hint: 'Is Kamailio running? `pbxctl lab status` for a lab node, `pbxctl doctor` otherwise.', cause: err,
          }));
        });
        req.end(body);
      });
    },
  };
}
