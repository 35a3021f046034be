/**
 * Colors of the live view. A neutral palette (ANSI named colors the terminal theme maps, readable
 * on dark and light backgrounds; no fixed RGB), or none at all under NO_COLOR (https://no-color.org).
 */
import type { CallPhase } from './model/live-model.js';

/** A color name ink understands, or undefined for the terminal's default. */
export type Color = string | undefined;

/** What the components color. */
export interface Palette {
  phase(p: CallPhase): Color;
  media(grade: 'good' | 'fair' | 'bad' | 'unknown'): Color;
  accent: Color;
  dim: Color;
  warn: Color;
}

const PHASE: Record<CallPhase, string> = { ringing: 'yellow', dialing: 'yellow', answered: 'green', agent: 'green', ivr: 'cyan', queued: 'magenta', voicemail: 'blue', hold: 'gray' };

/** The palette: colored, or every color undefined when `color` is false. */
export function palette(color: boolean): Palette {
  if (!color) return { phase: () => undefined, media: () => undefined, accent: undefined, dim: undefined, warn: undefined };
  return {
    phase: (p) => PHASE[p],
    media: (g) => (g === 'bad' ? 'red' : g === 'fair' ? 'yellow' : g === 'good' ? 'green' : undefined),
    accent: 'cyan',
    dim: 'gray',
    warn: 'red',
  };
}

/** True unless NO_COLOR is set to a non-empty value (no-color.org) or TERM is `dumb`. */
export function colorWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return !(env.NO_COLOR !== undefined && env.NO_COLOR !== '') && env.TERM !== 'dumb';
}
