import { writeFile } from 'node:fs/promises';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../lib/base-command.js';
import { voicemailFlags, withVoicemail } from './list.js';

export default class VoicemailGet extends BaseCommand {
  static override summary = 'Download one voicemail message as a WAV file.';
  static override description = 'Fetches the message\'s audio (8 kHz mono 16-bit WAV) from the node\'s feature daemon. It does not change the message\'s folder.';
  static override examples = ['<%= config.bin %> <%= command.id %> 1001 1763760000000-1a2b3c4d --target lab', '<%= config.bin %> <%= command.id %> 1001 1763760000000-1a2b3c4d -o - | play -'];
  static override enableJsonFlag = true;
  static override args = {
    mailbox: Args.string({ description: 'The box (extension number).', required: true }),
    id: Args.string({ description: 'The message id (see `pbxctl voicemail list MAILBOX`).', required: true }),
  };
  static override flags = { ...voicemailFlags, output: Flags.string({ char: 'o', description: 'Where to write the WAV (`-` for stdout); default ./<id>.wav.' }) };

  async run(): Promise<{ mailbox: string; id: string; file: string; bytes: number }> {
    const { args, flags } = await this.parse(VoicemailGet);
    const audio = await withVoicemail(flags, (api) => api.voicemailAudio(args.mailbox, args.id));
    const file = flags.output ?? `${args.id}.wav`;
    if (file === '-') process.stdout.write(audio);
    else {
      await writeFile(file, audio);
      if (!this.jsonEnabled()) this.log(`Wrote ${file} (${audio.length} bytes).`);
    }
    return { mailbox: args.mailbox, id: args.id, file, bytes: audio.length };
  }
}
