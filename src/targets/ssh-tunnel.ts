/**
 * SSH local port forwarding: a listener on 127.0.0.1 (a port the OS picks) whose every connection
 * is carried over the SSH connection to `127.0.0.1:PORT` on the node (RFC 4254 7.2 direct-tcpip),
 * as `ssh -L` does. Kamailio's JSON-RPC and the feature daemon's API listen on the node's loopback
 * only and have no or a bearer-token authentication: they are never exposed on a network, only
 * reached through this tunnel, and the local end accepts loopback connections only.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { SshConnection } from './ssh-connection.js';

/** A running forward. */
export interface SshTunnel {
  /** The local port on 127.0.0.1. */
  readonly localPort: number;
  /** The port on the node's 127.0.0.1. */
  readonly remotePort: number;
  close(): Promise<void>;
}

/**
 * Starts forwarding 127.0.0.1:(random) here to 127.0.0.1:`remotePort` on the node. A connection
 * that cannot be forwarded (the SSH connection is down and cannot be re-established, or nothing
 * listens on the node's port) is closed at once, which HTTP clients report as a reset.
 */
export async function openTunnel(conn: SshConnection, remotePort: number): Promise<SshTunnel> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    sock.pause();
    conn.forward('127.0.0.1', remotePort).then(
      (channel) => {
        channel.on('error', () => sock.destroy());
        sock.on('close', () => channel.destroy());
        channel.on('close', () => sock.destroy());
        sock.pipe(channel).pipe(sock);
        sock.resume();
      },
      () => sock.destroy(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  // The tunnel must not keep a finished command alive; open sockets close with it.
  server.unref();
  const address = server.address();
  const localPort = typeof address === 'object' && address ? address.port : 0;
  return {
    localPort,
    remotePort,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
