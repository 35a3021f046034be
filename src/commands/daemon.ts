import { Flags } from '@oclif/core';
import { readFile } from 'node:fs/promises';
import { startDaemon } from '../daemon/daemon.js';
import { BaseCommand } from '../lib/base-command.js';
import { PbxError } from '../lib/errors.js';

/** `HOST:PORT` with an IPv4 literal or `[IPv6]`. */
function hostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m?.[1] || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new PbxError('BAD_FLAG', `--${flag} ${text} is not HOST:PORT`, { hint: `e.g. --${flag} 127.0.0.1:5060` });
  }
  return { host: m[1], port };
}

export default class Daemon extends BaseCommand {
  static override summary = 'Run the feature daemon (IVRs, ring groups, schedules) of a node in the foreground.';
  static override description =
    'A SIP user agent behind Kamailio that runs the call flows Kamailio cannot: it takes its configuration from the release `pbxctl apply` deployed (ROOT/current/daemon/features.json), drives RTPengine over NG for media, and serves an HTTP API on 127.0.0.1 (health, config reload, live calls, server-sent events, Prometheus /metrics) authenticated by the token in --token-file. `pbxctl lab up` starts it for the lab node; templates/systemd/pbxctl-daemon.service runs it on a node. Stops cleanly on SIGTERM/SIGINT.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> --root /var/lib/pbxctl --sip-address 192.0.2.10 --sip-port 5070 --kamailio 192.0.2.10:5060 --ng 127.0.0.1:2223 --api-port 5071 --token-file /etc/pbxctl/daemon.token --rtp-min 40000 --rtp-max 40999 --state-dir /var/lib/pbxctl/state/daemon',
  ];
  static override flags = {
    root: Flags.directory({ description: 'Node root (holds current -> releases/<id>).', required: true }),
    'sip-address': Flags.string({ description: 'SIP listen address (an IP), also used for RTP and advertised in SDP.', default: '127.0.0.1' }),
    'sip-port': Flags.integer({ description: 'SIP port (UDP and TCP); Kamailio\'s PBX_DAEMON_PORT.', required: true }),
    kamailio: Flags.string({ description: 'Kamailio SIP HOST:PORT: the only SIP peer and the outbound proxy.', required: true }),
    ng: Flags.string({ description: 'RTPengine NG socket HOST:PORT.', required: true }),
    'api-port': Flags.integer({ description: 'HTTP API port on 127.0.0.1.', required: true }),
    'token-file': Flags.file({ description: 'File holding the API bearer token (keep it mode 0600).', required: true }),
    'rtp-min': Flags.integer({ description: 'Lowest port of the daemon\'s own RTP endpoints.', required: true }),
    'rtp-max': Flags.integer({ description: 'Highest port of the daemon\'s own RTP endpoints.', required: true }),
    'state-dir': Flags.directory({ description: 'Directory for persistent daemon state: daemon.db (CDRs, voicemail, webhook outbox, agent state), ring-group rotation.', required: true }),
    evapi: Flags.string({ description: 'Kamailio\'s evapi HOST:PORT (PBX_EVAPI_PORT): call and registration events for CDRs (docs/cdr.md). Without it only calls the daemon handles get CDRs.' }),
    'cdr-retention-days': Flags.integer({ description: 'Days to keep CDRs when the deployed feature config sets none (pbx.yaml defaults.cdrRetentionDays); older ones are pruned hourly.', default: 365, min: 1 }),
    'keepalive-interval': Flags.integer({ description: 'Seconds between in-dialog OPTIONS keepalives on each confirmed call leg; a leg that answers 408/481 or not at all ends the call (0: off).', default: 30, min: 0, env: 'PBXCTL_DAEMON_KEEPALIVE_INTERVAL' }),
    verbose: Flags.boolean({ description: 'Log SIP transport debug lines.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Daemon);
    const token = (await readFile(flags['token-file'], 'utf8').catch((e: unknown) => {
      throw new PbxError('DAEMON_TOKEN', `cannot read --token-file ${flags['token-file']}: ${e instanceof Error ? e.message : String(e)}`, { hint: 'Create it with a random token: head -c 32 /dev/urandom | xxd -p -c 64 > FILE; chmod 600 FILE' });
    })).trim();
    if (token.length < 16) throw new PbxError('DAEMON_TOKEN', `--token-file ${flags['token-file']} holds a token shorter than 16 characters`, { hint: 'Use at least 32 random hex characters.' });
    const line = (level: string) => (message: string, fields?: Record<string, unknown>) => process.stderr.write(`${new Date().toISOString()} ${level} ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
    const daemon = await startDaemon({
      root: flags.root,
      sipAddress: flags['sip-address'],
      sipPort: flags['sip-port'],
      kamailio: hostPort(flags.kamailio, 'kamailio'),
      ng: hostPort(flags.ng, 'ng'),
      apiPort: flags['api-port'],
      token,
      rtp: { min: flags['rtp-min'], max: flags['rtp-max'] },
      stateDir: flags['state-dir'],
      ...(flags.evapi ? { evapi: hostPort(flags.evapi, 'evapi') } : {}),
      cdrRetentionDays: flags['cdr-retention-days'],
      keepaliveMs: flags['keepalive-interval'] * 1000,
      logger: { debug: flags.verbose ? line('debug') : () => undefined, info: line('info'), warn: line('warn'), error: line('error') },
    });
    // One call's bug must not take every other call down with the process: log it and go on.
    process.on('unhandledRejection', (reason) => line('error')('unhandled rejection', { reason: reason instanceof Error ? reason.stack : String(reason) }));
    process.stderr.write(`daemon ready: sip ${flags['sip-address']}:${daemon.sipPort}, api 127.0.0.1:${daemon.apiPort}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    process.stderr.write('daemon stopping: tearing down calls\n');
    await daemon.stop();
  }
}
