import { Flags } from '@oclif/core';
import { secretValues } from '../../apply/prepare.js';
import { openRepo } from '../../config/open-repo.js';
import { testCall, type TestCallResult } from '../../lab/test-call.js';
import { portPlan } from '../../lab/ports.js';
import { BaseCommand } from '../../lib/base-command.js';
import { ExitCode } from '../../lib/exit-codes.js';
import { PbxError } from '../../lib/errors.js';
import { secretsFlag } from '../../lib/flags.js';
import { labDir, readLabInfo } from '../../targets/lab-registry.js';

export default class LabCall extends BaseCommand {
  static override summary = 'Place a test call between two extensions on the lab node, directly or through a feature (IVR, ring group).';
  static override description = 'sipp phones on 127.0.0.2 play both extensions: the callee registers with its password from the repo\'s secrets and answers, the caller dials it (or --dial a feature number such as an IVR, then --dtmf a choice that leads to the callee); both send G.711 audio. Reports the SIP responses and the RTP packets RTPengine relayed each way. Exit 0 when the call was answered and media flowed both ways.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> --repo examples/small-office --from 320 --to 300 --secrets examples/small-office/.secrets.example.yaml',
    '<%= config.bin %> <%= command.id %> --repo examples/small-office --from 320 --dial 700 --dtmf 0 --to 300 --secrets examples/small-office/.secrets.example.yaml',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    repo: Flags.directory({ description: 'The repo (for the extensions\' passwords).', default: '.' }),
    from: Flags.string({ description: 'Calling extension.', required: true }),
    to: Flags.string({ description: 'Extension that answers (registers a phone for it).', required: true }),
    dial: Flags.string({ description: 'Number the caller dials, when not --to (an IVR, a ring group, a DID).' }),
    dtmf: Flags.string({ description: 'Digit to press once the call is answered (an IVR choice), sent as RFC 4733 events.', options: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'] }),
    secrets: secretsFlag,
    duration: Flags.integer({ description: 'Seconds the call stays up (with --dtmf: seconds before the digit, e.g. the greeting).', default: 3, min: 1, max: 60 }),
    dir: Flags.directory({ description: 'Lab directory (default: $PBXCTL_LAB_DIR or ~/.local/state/pbxctl/lab).' }),
  };

  async run(): Promise<TestCallResult> {
    const { flags } = await this.parse(LabCall);
    const info = await readLabInfo(labDir(process.env, flags.dir));
    if (!info) throw new PbxError('LAB_NOT_RUNNING', 'no lab node is running', { hint: 'Start one with `pbxctl lab up`.' });
    const repo = await openRepo(flags.repo, { secretsFile: flags.secrets });
    const value = secretValues(repo.secrets);
    const creds = (n: string) => {
      const e = repo.state.extensions.get(n);
      if (!e) throw new PbxError('UNKNOWN_EXTENSION', `extension ${n} is not in ${flags.repo}`);
      return { user: n, password: value(e.password) };
    };
    const ports = portPlan(info.ports.sip);
    const via = flags.dial ? ` via ${flags.dial}${flags.dtmf ? `, pressing ${flags.dtmf}` : ''}` : '';
    this.log(`Test call ${flags.from} -> ${flags.to}${via} through ${info.sipAddress}:${info.ports.sip}`);
    const r = await testCall({ sip: { host: info.sipAddress, port: info.ports.sip }, ng: { host: '127.0.0.1', port: info.ports.ng }, from: creds(flags.from), to: creds(flags.to), portBase: ports.clientMax - 20, durationMs: flags.duration * 1000, ...(flags.dial ? { dial: flags.dial } : {}), ...(flags.dtmf ? { dtmf: flags.dtmf } : {}) }).catch((e: unknown) => {
      if (e instanceof PbxError) throw e;
      // sipp could not start (a port in use, a bad scenario): an environment problem, not a pbxctl bug.
      throw new PbxError('TEST_CALL_FAILED', `the test phones could not run: ${(e as Error).message.split('\n')[0]}`, { hint: 'See `pbxctl lab status`; the client ports are the last 20 of the lab\'s block.', cause: e });
    });
    this.log(`  REGISTER ${flags.to} (answering phone): ${r.register ?? 'no answer'}`);
    this.log(`  INVITE ${flags.dial ?? flags.to} from ${flags.from}: ${r.inviteResponses.join(' ') || 'no answer'}${r.answered ? ' (answered)' : ''}`);
    if (r.answered) this.log(`  callee saw: ${r.calleeRequests.join(', ')}`);
    this.log(`  media through RTPengine: ${r.media.fromCaller} RTP packets from ${flags.from}, ${r.media.fromCallee} from ${flags.to}`);
    this.log(r.ok ? '✓ test call OK' : `✗ test call failed: ${r.problem}`);
    if (!r.ok) process.exitCode = ExitCode.Error;
    return r;
  }
}
