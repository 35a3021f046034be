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
  }
}
