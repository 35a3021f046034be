/** Flags shared by the commands that act on a node. */
import { Flags } from '@oclif/core';

export const targetFlag = Flags.string({ char: 't', description: 'Node to act on: a node name from pbx.yaml, or "lab" for the local lab node. Default: the repo\'s only node.' });
export const secretsFlag = Flags.file({ description: 'Read secret values from this YAML file instead of pbx.yaml secrets.file.' });

/**
 * Parses a duration like `30s`, `2m`, `500ms` or a bare number of seconds into milliseconds.
 * @throws Error with a message naming the accepted forms (oclif shows it as a flag error)
 */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration (e.g. 500ms, 30s, 2m)`);
  const n = Number(m[1]);
  return Math.round(n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000));
}

export const lockTimeoutFlag = Flags.custom<number>({
  description: 'How long to wait for another apply\'s lock (e.g. 30s, 2m). Default: fail at once.',
  parse: async (input) => parseDuration(input),
})();
