/** The semantic checks, run in this order after schema validation; each adds diagnostics. */
import { checkAssets } from './assets.js';
import type { Check } from './context.js';
import { checkIdentities } from './identity.js';
import { checkOutbound } from './outbound.js';
import { checkReferences } from './references.js';
import { checkCallFlows, checkDids, checkLoops, checkReachability } from './routing.js';
import { checkSchedules } from './schedules.js';
import { checkSecrets } from './secrets.js';

export const CHECKS: readonly Check[] = [
  checkIdentities,
  checkReferences,
  checkDids,
  checkLoops,
  checkCallFlows,
  checkReachability,
  checkSchedules,
  checkOutbound,
  checkAssets,
  checkSecrets,
];

export { CheckContext, type CheckOptions } from './context.js';
