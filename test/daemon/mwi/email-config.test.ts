/**
 * The voicemail email settings in the feature config: compiled from the small-office example
 * (VoicemailSettings.email, extension and box emails, attachAudio), no password in the document,
 * read back by parseFeatureConfig, and refused when malformed.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileFeatureConfig } from '../../../src/compile/feature-config.js';
import { promptFiles } from '../../../src/compile/prompts.js';
import { validateRepoDir } from '../../../src/config/validate.js';
import { featureConfigVersion, parseFeatureConfig, type FeatureConfig } from '../../../src/daemon/config-types.js';

const DIR = fileURLToPath(new URL('../../../examples/small-office/', import.meta.url));

async function smallOffice(): Promise<FeatureConfig> {
  const r = await validateRepoDir(DIR, { strict: false, secretsFile: join(DIR, '.secrets.example.yaml') });
  const hashes = Object.fromEntries(promptFiles(r.state!).map((f) => [f, createHash('sha256').update(readFileSync(join(DIR, f))).digest('hex')]));
  return compileFeatureConfig(r.state!, { fileHashes: hashes });
}

/** A document changed by `edit`, re-versioned so only the shape check can refuse it. */
interface Doc {
  version: string;
  voicemail: { email?: { smtp: Record<string, unknown> } };
  extensions: Record<string, { voicemailEmail: { address: string } }>;
}
function edited(c: FeatureConfig, edit: (j: Doc) => void): unknown {
  const j = JSON.parse(JSON.stringify(c)) as Doc;
  edit(j);
  j.version = featureConfigVersion(j as unknown as FeatureConfig);
  return j;
}

describe('voicemail email in the feature config', () => {
  it('carries the SMTP settings without the password, defaults applied', async () => {
    const c = await smallOffice();
    expect(c.voicemail.email).toEqual({
      from: 'voicemail@example.com',
      subject: 'Voicemail for {mailbox} from {callerName} <{callerId}> ({duration}s)',
      smtp: { host: 'smtp.example.com', port: 587, secure: 'starttls', username: 'pbx-notify@example.com' },
    });
    expect(JSON.stringify(c)).not.toMatch(/password/i);
  });

  it('sends to the box email, else the extension email; none without a box', async () => {
    const c = await smallOffice();
    expect(c.extensions['300']!.voicemailEmail).toEqual({ address: 'office@example.com', attachAudio: true });
    expect(c.extensions['301']!.voicemailEmail).toEqual({ address: 'sam.whitaker@example.com', attachAudio: true });
    for (const e of Object.values(c.extensions)) if (!e.voicemail) expect(e.voicemailEmail).toBeUndefined();
  });

  it('reads back through parseFeatureConfig and refuses malformed values', async () => {
    const c = await smallOffice();
    expect(parseFeatureConfig(JSON.parse(JSON.stringify(c)))).toEqual(c);
    expect(() => parseFeatureConfig(edited(c, (j) => (j.voicemail.email!.smtp.secure = 'ssl')))).toThrow(/voicemail\.email\.smtp\.secure/);
    expect(() => parseFeatureConfig(edited(c, (j) => (j.voicemail.email!.smtp.port = 0)))).toThrow(/voicemail\.email\.smtp\.port/);
    expect(() => parseFeatureConfig(edited(c, (j) => (j.voicemail.email!.smtp.password = 'x')))).toThrow(/smtp\.password: unknown field/);
    expect(() => parseFeatureConfig(edited(c, (j) => (j.extensions['300']!.voicemailEmail.address = 'nobody')))).toThrow(/extensions\.300\.voicemailEmail\.address/);
    // Without email settings the document is still valid.
    expect(parseFeatureConfig(edited(c, (j) => delete j.voicemail.email)).voicemail.email).toBeUndefined();
  });
});
