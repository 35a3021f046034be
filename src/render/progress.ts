/**
 * Apply progress: on a TTY one line per step with a check mark as it completes; without a TTY
 * (CI) plain `apply: step status detail` lines that read well in logs.
 */
import { styleText } from 'node:util';
import type { ApplyProgress, ApplyStep } from '../apply/executor.js';

const LABEL: Record<ApplyStep, string> = {
  lock: 'Taking the node lock', check: 'Checking the live state still matches the plan', render: 'Rendering prompts', stage: 'Writing the new release',
  switch: 'Switching current to the new release', reload: 'Reloading the changed data', verify: 'Verifying the live state',
  record: 'Recording the deployment', rollback: 'Rolling back',
};

/** A progress printer writing through `write` (one call per line). */
export function progressPrinter(write: (line: string) => void, opts: { tty: boolean; color: boolean }): ApplyProgress {
  const c = (color: Parameters<typeof styleText>[0], t: string) => (opts.color ? styleText(color, t) : t);
  return (step, status, detail) => {
    if (!opts.tty) {
      write(`apply: ${step} ${status}${detail ? ` ${detail}` : ''}`);
      return;
    }
    if (status === 'start') return;
    const mark = status === 'done' ? c('green', '✓') : c('red', '✗');
    write(`  ${mark} ${LABEL[step]}${detail ? c('dim', ` (${detail})`) : ''}`);
  };
}
