import { Args, Flags } from '@oclif/core';
import { readPbxConfig } from '../../config/repo-files.js';
import type { DaemonClient } from '../../daemon/daemon-client.js';
import type { VoicemailBoxesReply, VoicemailMessagesReply } from '../../daemon/voicemail/module.js';
import { BaseCommand } from '../../lib/base-command.js';
import { PbxError } from '../../lib/errors.js';
import { targetFlag } from '../../lib/flags.js';
import { openTarget } from '../../targets/resolve.js';

/** The voicemail calls of the node's daemon client. */
export type VoicemailApi = Pick<DaemonClient, 'voicemailBoxes' | 'voicemailMessages' | 'voicemailAudio' | 'voicemailDelete'>;

/** Flags every `voicemail` command shares. */
export const voicemailFlags = {
  target: targetFlag,
  dir: Flags.directory({ description: 'Repo directory (for its node list).', default: '.' }),
};

/**
 * Runs `fn` with the voicemail API of the target's feature daemon, closing the target after.
 * @throws PbxError VOICEMAIL_NO_DAEMON when the node runs no daemon
 */
export async function withVoicemail<T>(flags: { target?: string; dir: string }, fn: (api: VoicemailApi) => Promise<T>): Promise<T> {
  const pbx = await readPbxConfig(flags.dir);
  const target = await openTarget(flags.target, pbx);
  try {
    const daemon = target.daemon as Partial<VoicemailApi> | undefined;
    if (!daemon || typeof daemon.voicemailMessages !== 'function') {
      throw new PbxError('VOICEMAIL_NO_DAEMON', `node ${target.name} runs no feature daemon, which keeps the voicemail`, { hint: 'Voicemail needs the feature daemon: `pbxctl lab up` starts it for the lab node.' });
    }
    return await fn(daemon as VoicemailApi);
  } finally {
    await target.close();
  }
}

/** One line per message: id, folder, received (UTC), duration, caller. */
export function messageLines(r: VoicemailMessagesReply): string[] {
  const rows = r.messages.map((m) => [m.id, m.folder, new Date(m.receivedAt).toISOString().replace(/\.\d+Z$/, 'Z'), `${(m.durationMs / 1000).toFixed(1)}s`, m.caller.name ? `${m.caller.name} <${m.caller.number}>` : m.caller.number]);
  const head = ['ID', 'FOLDER', 'RECEIVED', 'LENGTH', 'CALLER'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  return [head, ...rows].map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

export default class VoicemailList extends BaseCommand {
  static override summary = 'List voicemail boxes with messages, or the messages of one box, on a node.';
  static override description = 'Reads the feature daemon\'s voicemail store. Without MAILBOX: every box that has messages, with its new and old counts. With MAILBOX: its messages, oldest first (id, folder new/old/saved, time received, length, caller).';
  static override examples = ['<%= config.bin %> <%= command.id %> --target lab', '<%= config.bin %> <%= command.id %> 1001 --folder new --json'];
  static override enableJsonFlag = true;
  static override args = { mailbox: Args.string({ description: 'The box (extension number).' }) };
  static override flags = { ...voicemailFlags, folder: Flags.string({ description: 'Only messages in this folder.', options: ['new', 'old', 'saved'] }) };

  async run(): Promise<VoicemailBoxesReply | VoicemailMessagesReply> {
    const { args, flags } = await this.parse(VoicemailList);
    return withVoicemail(flags, async (api) => {
      if (args.mailbox === undefined) {
        const r = await api.voicemailBoxes();
        if (!this.jsonEnabled()) {
          if (r.mailboxes.length === 0) this.log('No voicemail messages.');
          for (const b of r.mailboxes) this.log(`${b.mailbox}  ${b.newCount} new, ${b.oldCount} old`);
        }
        return r;
      }
      const r = await api.voicemailMessages(args.mailbox, flags.folder);
      if (!this.jsonEnabled()) {
        this.log(`Mailbox ${r.mailbox}: ${r.newCount} new, ${r.oldCount} old`);
        if (r.messages.length > 0) for (const line of messageLines(r)) this.log(line);
      }
      return r;
    });
  }
}
