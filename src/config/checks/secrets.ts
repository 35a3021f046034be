/**
 * Secret references resolve to a value. At validate time a missing value is a warning (CI may
 * validate without production secrets); with --strict, and always at apply time, it is an error.
 */
import { secretFields } from '../../model/references.js';
import { parseSecretRef } from '../secrets.js';
import type { CheckContext } from './context.js';

export function checkSecrets(ctx: CheckContext): void {
  for (const { resource: r } of ctx.resources) {
    for (const f of secretFields(r)) {
      const ref = parseSecretRef(f.ref);
      if (!ref || ctx.secrets.resolve(ref) !== undefined) continue;
      ctx.report(ctx.options.strict ? 'error' : 'warning', 'unresolved-secret', ctx.at(r, f.path), `${f.ref} has no value`, `Set ${ctx.secrets.describe(ref)}.`);
    }
    // A Standard Webhooks secret (`whsec_<base64>`) is decoded to sign: a malformed one could sign nothing.
    if (r.kind === 'Webhook') {
      for (const f of secretFields(r)) {
        const ref = parseSecretRef(f.ref);
        const v = ref ? ctx.secrets.resolve(ref) : undefined;
        if (v?.startsWith('whsec_') && !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(v)) {
          ctx.report('error', 'webhook-secret-format', ctx.at(r, f.path), `${f.ref} starts with whsec_ but is not base64 after it`, 'Use whsec_ followed by base64 (e.g. whsec_ + `openssl rand -base64 32`), or a secret without the prefix.');
        }
      }
    }
  }
}
