import { Args } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';
import { PbxError } from '../../lib/errors.js';
import { voicemailFlags, withVoicemail } from './list.js';

export default class VoicemailDelete extends BaseCommand {
  static override summary = 'Delete one voicemail message on a node.';
  static override description = 'Removes the message\'s row and audio file; the box\'s message-waiting indication follows (voicemail.changed).';
  static override examples = ['<%= config.bin %> <%= command.id %> 1001 1763760000000-1a2b3c4d --target lab'];
  static override enableJsonFlag = true;
  static override args = {
    mailbox: Args.string({ description: 'The box (extension number).', required: true }),
    id: Args.string({ description: 'The message id (see `pbxctl voicemail list MAILBOX`).', required: true }),
  };
  static override flags = voicemailFlags;

  async run(): Promise<{ mailbox: string; id: string; deleted: true }> {
    const { args, flags } = await this.parse(VoicemailDelete);
    const deleted = await withVoicemail(flags, (api) => api.voicemailDelete(args.mailbox, args.id));
    if (!deleted) throw new PbxError('VOICEMAIL_NOT_FOUND', `no message ${args.id} in mailbox ${args.mailbox}`, { hint: 'List the box with `pbxctl voicemail list MAILBOX`.' });
    if (!this.jsonEnabled()) this.log(`Deleted message ${args.id} from mailbox ${args.mailbox}.`);
    return { mailbox: args.mailbox, id: args.id, deleted: true };
  }
}
