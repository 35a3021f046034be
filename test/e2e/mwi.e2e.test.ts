/**
 * Message-waiting indication and voicemail-to-email end to end, with real Kamailio, RTPengine,
 * sipp, an SMTP server (the `smtp-server` package) on loopback and the feature daemon:
 *
 * - a carrier calls a DID routed to `voicemail:1001` and leaves a real message (sipp plays G.711
 *   audio after the greeting and beep); extension 1001's phone (sipp, registered through Kamailio)
 *   gets an unsolicited NOTIFY `Messages-Waiting: no` when it registers (Kamailio's evapi
 *   registration event) and `Messages-Waiting: yes` once the message is stored;
 * - a SUBSCRIBE from sipp for its own box (digest challenge by Kamailio) gets 200 and a NOTIFY
 *   with the counts, un-SUBSCRIBE gets the final NOTIFY; a SUBSCRIBE for another extension's box
 *   is refused by Kamailio (403); deleting the message (voicemail API) turns the lamp off;
 * - the owner gets an email with the WAV attached (bytes equal to the stored file), after the SMTP
 *   server refused the first attempt (451) and the outbox retried;
 * - with the SMTP server down, a second message's email waits in the outbox across a daemon
 *   restart and is delivered by the restarted daemon.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../../src/daemon/daemon.js';
import type { DaemonEvent } from '../../src/daemon/events.js';
import { parseMessageSummary } from '../../src/daemon/mwi/message-summary.js';
import { describeSipp, runSipp, startSipp, type SipTraceEntry } from '../../src/lab/sipp.js';
import { deployFeatureRepo, eventually as eventuallyEvery, writeRepo, inProcessDaemonOptions } from './support/feature-repo.js';
import { PASSWORDS, PHONE_IP, startLabNode, type LabNode } from './support/lab-node.js';
import { call, finalStatus, register } from './support/phones.js';

const DID = '+15550401';

const repoFiles = (smtpPort: number): Record<string, string> => ({
  'pbx.yaml': 'name: e2e\ndomain: pbx.lab.test\nnumberPlan: {extensions: ["1000-1999"]}\nnodes: [{name: lab, type: local}]\ndefaults: {timezone: UTC}\n',
  'extensions/1001.yaml': 'kind: Extension\nnumber: "1001"\nname: Alice\nemail: alice@example.com\npassword: ${secret:EXT_1001}\n',
  'extensions/1002.yaml': 'kind: Extension\nnumber: "1002"\nname: Bob\npassword: ${secret:EXT_1002}\n',
  'inbound-routes/vm.yaml': `kind: InboundRoute\nid: vm\ndids: ["${DID}"]\ndestination: voicemail:1001\n`,
  'voicemail/settings.yaml': [
    'kind: VoicemailSettings',
    'minMessageLength: 1',
    'maxSilence: 10',
    'greeting: {text: "Leave a message."}',
    'email:',
    '  from: voicemail@pbx.lab.test',
    '  subject: "Voicemail for {mailbox} from {callerId}"',
    '  smtp:',
    '    host: 127.0.0.1',
    `    port: ${smtpPort}`,
    '    secure: none',
    '    username: pbx',
    '    password: ${secret:SMTP}',
    '',
  ].join('\n'),
  '.secrets.yaml': 'EXT_1001: secret-1001\nEXT_1002: secret-1002\nSMTP: smtp-secret\n',
});

/** One message the SMTP server took: envelope, auth user and the raw RFC 5322 text. */
interface Received {
  from: string;
  to: string[];
  user: string | undefined;
  raw: string;
}

/** An SMTP server on loopback that can refuse the next N messages with 451 (temporary). */
class Smtp {
  readonly received: Received[] = [];
  refuseNext = 0;
  refused = 0;
  private server: SMTPServer | undefined;
  constructor(readonly port: number) {}

  async start(): Promise<void> {
    this.server = new SMTPServer({
      secure: false,
      disabledCommands: ['STARTTLS'],
      authMethods: ['PLAIN', 'LOGIN'],
      allowInsecureAuth: true,
      onAuth: (auth, _session, cb) => (auth.username === 'pbx' && auth.password === 'smtp-secret' ? cb(null, { user: auth.username }) : cb(new Error('Invalid username or password'))),
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          if (this.refuseNext > 0) {
            this.refuseNext--;
            this.refused++;
            return cb(Object.assign(new Error('Try again later'), { responseCode: 451 }));
          }
          this.received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            user: session.user as string | undefined,
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          cb();
        });
      },
      logger: false,
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

/** Whether `m` is the notification of voicemail message `id` (header names are case-insensitive). */
const mailFor = (m: Received, id: string): boolean => new RegExp(`^X-PBX-Voicemail-Id: ${id}\\r?$`, 'mi').test(m.raw);

/** The base64 part with `Content-Type: audio/wav` of a MIME message, decoded; and its file name. */
function wavAttachment(raw: string): { filename: string; bytes: Buffer } | undefined {
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(raw)?.[1];
  if (!boundary) return undefined;
  for (const part of raw.split(`--${boundary}`)) {
    const [head, ...rest] = part.split(/\r?\n\r?\n/);
    if (!head || !/Content-Type:\s*audio\/wav/i.test(head)) continue;
    const filename = /filename="?([^";\r\n]+)"?/i.exec(head)?.[1] ?? '';
    return { filename, bytes: Buffer.from(rest.join('\n').replace(/\s+/g, ''), 'base64') };
  }
  return undefined;
}

let node: LabNode;
let daemon: RunningDaemon | undefined;
let smtp: Smtp;
let stateDir: string;
const events: DaemonEvent[] = [];

/** The daemon's log lines (for failure messages). */
const logLines: string[] = [];
const line = (level: string) => (message: string, fields?: Record<string, unknown>) => void logLines.push(`${level} ${message} ${fields ? JSON.stringify(fields) : ''}`);
const daemonLog = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };

async function start(): Promise<RunningDaemon> {
  const d = await startDaemon({
    ...inProcessDaemonOptions(node, 'e2e-token-0123456789abcdef'),
    stateDir,
    // Seconds, not the production half minute: the test waits for a retry.
    voicemailEmailRetry: { baseMs: 500, maxMs: 2000, maxAttempts: 10 },
    logger: daemonLog,
  });
  d.events.subscribe((e) => events.push(e));
  return d;
}

beforeAll(async () => {
  node = await startLabNode('mwi');
  smtp = new Smtp(node.allocPorts());
  await smtp.start();
  const { config } = await deployFeatureRepo(node, await writeRepo(repoFiles(smtp.port), 'pbxctl-mwi-repo-'), {
    // What apply does for the SMTP password: the secrets document next to the config.
    secrets: { formatVersion: 1, webhooks: {}, voicemailPins: {}, smtpPassword: 'smtp-secret' },
  });
  expect(config.voicemail.email?.smtp).toMatchObject({ port: smtp.port, secure: 'none', username: 'pbx' });
  const did = await node.readReleaseFile('db/pbx_did');
  await node.writeReleaseFile('db/pbx_did', `${did}${DID}:0:0:t=feature;dest=voicemail\\:1001:0\n`);
  await node.rpc.call('htable.reload', ['did']);
  stateDir = join(node.workDir, 'daemon-state');
  daemon = await start();
}, 90_000);

afterAll(async () => {
  await daemon?.stop();
  await smtp?.stop();
  await node?.stop();
});

const eventually = <T>(check: () => Promise<T> | T, timeoutMs = 15_000) => eventuallyEvery(check, timeoutMs);

const notifies = (messages: SipTraceEntry[]) => messages.filter((m) => m.direction === 'received' && m.method === 'NOTIFY');
const bodyOf = (m: SipTraceEntry) => m.text.split(/\r?\n\r?\n/).slice(1).join('\n');
const header = (m: SipTraceEntry, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(m.text)?.[1]?.trim();

/** Leaves a message in box 1001 through a real call and returns its voicemail.new event. */
async function leaveMessage(): Promise<Extract<DaemonEvent, { type: 'voicemail.new' }>> {
  const after = events.at(-1)?.seq ?? 0;
  // A short greeting and the beep, then sipp's audio is recorded until it hangs up after 7 s.
  const caller = await call(node, DID, { durationMs: 7000, fromUser: '+12125550199' });
  const r = await caller.done;
  expect(r.responses, describeSipp(r)).toContain(200);
  return eventually(() => {
    const e = events.find((x) => x.seq > after && x.type === 'voicemail.new');
    if (!e || e.type !== 'voicemail.new') throw new Error('no voicemail.new yet');
    return e;
  });
}

describe('MWI and voicemail email (Kamailio + RTPengine + sipp + SMTP)', () => {
  let first: Extract<DaemonEvent, { type: 'voicemail.new' }>;

  it('a registered phone gets NOTIFY no on registration, yes once a message is left; the email is retried and carries the WAV', async () => {
    const contactPort = node.allocPorts();
    const phone = await startSipp({ scenario: 'mwi-phone.xml', target: node.sipTarget, workDir: node.workDir, name: 'mwi-phone-1001', localIp: PHONE_IP, localPort: contactPort, timeoutSec: 120 });
    try {
      expect(finalStatus(await register(node, '1001', contactPort))).toBe(200);
      smtp.refuseNext = 1;
      first = await leaveMessage();
      expect(first).toMatchObject({ mailbox: '1001', caller: { number: '+12125550199' } });
      expect(first.durationS).toBeGreaterThanOrEqual(1);
      // The phone's NOTIFYs: stop it once the "yes" arrived, then read them all.
      await eventually(() => expect(readFileSync(join(node.workDir, 'mwi-phone-1001.messages.log'), 'utf8')).toMatch(/Messages-Waiting: yes/));
    } finally {
      const r = await phone.stop();
      await register(node, '1001', contactPort, { expires: 0 });
      const got = notifies(r.messages);
      expect(got.length, describeSipp(r)).toBeGreaterThanOrEqual(1);
      for (const n of got) {
        expect(header(n, 'Event')).toBe('message-summary');
        expect(header(n, 'Content-Type')).toBe('application/simple-message-summary');
        expect(n.startLine).toMatch(new RegExp(`^NOTIFY sip:1001@${PHONE_IP}:${contactPort}`)); // forked to the registered contact
      }
      const summaries = got.map((n) => parseMessageSummary(bodyOf(n)));
      expect(summaries.at(-1), JSON.stringify(summaries)).toEqual({ waiting: true, account: 'sip:1001@pbx.lab.test', voice: { newCount: 1, oldCount: 0, newUrgent: 0, oldUrgent: 0 } });
      // With Kamailio's registration events, the registration itself brought a "no" first.
      if (node.ports.evapi) expect(summaries[0]?.waiting).toBe(false);
    }

    // The email: first attempt refused (451), the retry delivered it with the recording attached.
    const mail = await eventually(() => {
      const m = smtp.received.find((x) => mailFor(x, first.messageId));
      if (!m) throw new Error(`no email yet (refused ${smtp.refused})\n${logLines.filter((l) => /email/.test(l)).join('\n')}`);
      return m;
    });
    expect(smtp.refused).toBe(1);
    expect(mail).toMatchObject({ from: 'voicemail@pbx.lab.test', to: ['alice@example.com'], user: 'pbx' });
    expect(mail.raw).toMatch(/^Subject: Voicemail for 1001 from \+12125550199$/m);
    const wav = wavAttachment(mail.raw);
    expect(wav?.filename).toBe(`voicemail-1001-${first.messageId}.wav`);
    expect(wav?.bytes.equals(readFileSync(first.file))).toBe(true);
    expect(wav?.bytes.subarray(0, 4).toString()).toBe('RIFF');
  }, 90_000);

  it('answers a SUBSCRIBE for your own box: 200, NOTIFY with the counts, un-SUBSCRIBE and a terminated NOTIFY', async () => {
    const r = await runSipp({
      scenario: 'mwi-subscribe.xml', target: node.sipTarget, workDir: node.workDir, name: 'mwi-subscribe-1001',
      localIp: PHONE_IP, localPort: node.allocPorts(), timeoutSec: 20, service: '1001',
      auth: { user: '1001', password: PASSWORDS['1001']! }, keys: { box: '1001', expires: 600 },
    });
    expect(r.exitCode, describeSipp(r)).toBe(0);
    const ok = r.messages.filter((m) => m.direction === 'received' && m.status === 200);
    expect(ok.length, describeSipp(r)).toBe(2);
    expect(header(ok[0]!, 'Expires')).toBe('600');
    const got = notifies(r.messages);
    expect(got).toHaveLength(2);
    expect(header(got[0]!, 'Subscription-State')).toMatch(/^active;expires=(600|599)$/);
    expect(parseMessageSummary(bodyOf(got[0]!))).toMatchObject({ waiting: true, voice: { newCount: 1 } });
    expect(header(got[1]!, 'Subscription-State')).toBe('terminated;reason=timeout');
    // Both NOTIFYs came along the Record-Route set: Kamailio's Via on top of the daemon's.
    for (const n of got) expect(n.text.match(/^Via:/gm)).toHaveLength(2);
  }, 30_000);

  it('refuses a SUBSCRIBE for somebody else’s box (Kamailio, 403)', async () => {
    const r = await runSipp({
      scenario: 'mwi-subscribe.xml', target: node.sipTarget, workDir: node.workDir, name: 'mwi-subscribe-other',
      localIp: PHONE_IP, localPort: node.allocPorts(), timeoutSec: 20, service: '1001',
      auth: { user: '1001', password: PASSWORDS['1001']! }, keys: { box: '1002', expires: 600 },
    });
    // 1001 authenticates fine, but the box is 1002's: route[MWI_SUBSCRIBE] refuses it.
    expect(r.responses.filter((c) => c >= 200).at(-1), describeSipp(r)).toBe(403);
    expect(notifies(r.messages)).toHaveLength(0);
  }, 30_000);

  it('turns the lamp off when the message is deleted (voicemail API)', async () => {
    const contactPort = node.allocPorts();
    const name = 'mwi-phone-1001-delete';
    const log = () => readFileSync(join(node.workDir, `${name}.messages.log`), 'utf8');
    const phone = await startSipp({ scenario: 'mwi-phone.xml', target: node.sipTarget, workDir: node.workDir, name, localIp: PHONE_IP, localPort: contactPort, timeoutSec: 60 });
    let summaries: ReturnType<typeof parseMessageSummary>[] = [];
    try {
      expect(finalStatus(await register(node, '1001', contactPort))).toBe(200);
      // The registration's NOTIFY (evapi) shows the message still waiting.
      if (node.ports.evapi) await eventually(() => expect(log()).toMatch(/Messages-Waiting: yes/));
      const res = await fetch(`http://127.0.0.1:${node.ports.daemonApi}/v1/voicemail/1001/messages/${first.messageId}`, { method: 'DELETE', headers: { authorization: 'Bearer e2e-token-0123456789abcdef' } });
      expect(res.status).toBe(204);
      await eventually(() => expect(log()).toMatch(/Messages-Waiting: no/));
    } finally {
      const r = await phone.stop();
      await register(node, '1001', contactPort, { expires: 0 });
      summaries = notifies(r.messages).map((n) => parseMessageSummary(bodyOf(n)));
    }
    expect(summaries.at(-1), JSON.stringify(summaries)).toEqual({ waiting: false, account: 'sip:1001@pbx.lab.test', voice: { newCount: 0, oldCount: 0, newUrgent: 0, oldUrgent: 0 } });
  }, 60_000);

  it('keeps an undelivered email across a daemon restart and delivers it afterwards', async () => {
    await smtp.stop(); // connection refused from now on
    const second = await leaveMessage();
    await eventually(async () => {
      const text = await (await fetch(`http://127.0.0.1:${node.ports.daemonApi}/metrics`, { headers: { authorization: 'Bearer e2e-token-0123456789abcdef' } })).text();
      expect(text).toMatch(/pbx_voicemail_emails_total\{result="retry"\} [1-9]/);
      expect(text).toMatch(/pbx_voicemail_email_outbox\{state="pending"\} 1/);
    });
    await daemon!.stop();
    daemon = undefined;
    await smtp.start();
    daemon = await start();
    const mail = await eventually(() => {
      const m = smtp.received.find((x) => mailFor(x, second.messageId));
      if (!m) throw new Error(`no email yet\n${logLines.filter((l) => /email/.test(l)).join('\n')}`);
      return m;
    }, 20_000);
    expect(wavAttachment(mail.raw)?.bytes.equals(readFileSync(second.file))).toBe(true);
    // Exactly once: the first message was not mailed again by the restarted daemon.
    expect(smtp.received.filter((x) => mailFor(x, first.messageId))).toHaveLength(1);
  }, 90_000);
});
