import { describe, expect, it } from 'vitest';
import type { DeploymentRecord } from '../../src/apply/executor.js';
import { authorName, buildHistory, findRollbackTarget, parseDeployments, renderHistoryText, splitCommit, summaryText } from '../../src/gitops/history.js';

const SHA = (c: string) => c.repeat(40);
const rec = (release: string, commit: string | undefined, extra: Partial<DeploymentRecord> = {}): DeploymentRecord => ({
  release, time: `2026-11-21T10:0${release.slice(-1)}:00.000Z`, user: 'ci@runner', planHash: 'h', summary: { create: 1, update: 2, delete: 0, replace: 1 },
  ...(commit ? { commit } : {}), ...extra,
});

describe('deployments.jsonl', () => {
  it('parses records oldest first and reports torn or foreign lines instead of failing', () => {
    const text = [JSON.stringify(rec('r1', SHA('a'))), '{"release":"r2","time":"x"', '', JSON.stringify({ hello: 1 }), JSON.stringify(rec('r3', SHA('b')))].join('\n');
    const { records, skippedLines } = parseDeployments(text);
    expect(records.map((r) => r.release)).toEqual(['r1', 'r3']);
    expect(skippedLines).toEqual([2, 4]);
  });

  it('keeps only the fields the apply writes, and skips a line missing a required one or with one of another type', () => {
    const edited = { ...rec('r1', SHA('a'), { author: 'A <a@x>' }), note: 'hand-edited', summary: { create: 1, update: 0, delete: 0, replace: 0, extra: 9 } };
    const noUser = { ...rec('r2', undefined) } as Partial<DeploymentRecord>;
    delete noUser.user;
    const badSummary = { ...rec('r3', undefined), summary: { create: '1', update: 0, delete: 0, replace: 0 } };
    const badOptional = { ...rec('r4', undefined), subject: 42 };
    const { records, skippedLines } = parseDeployments([edited, noUser, badSummary, badOptional].map((r) => JSON.stringify(r)).join('\n'));
    expect(records).toEqual([
      { release: 'r1', time: '2026-11-21T10:01:00.000Z', user: 'ci@runner', planHash: 'h', summary: { create: 1, update: 0, delete: 0, replace: 0 }, commit: SHA('a'), author: 'A <a@x>' },
      { release: 'r4', time: '2026-11-21T10:04:00.000Z', user: 'ci@runner', planHash: 'h', summary: { create: 1, update: 2, delete: 0, replace: 1 } },
    ]);
    expect(skippedLines).toEqual([2, 3]);
  });

  it('lists newest first, marks the current release, and honours the limit', () => {
    const h = buildHistory('lab', [rec('r1', SHA('a')), rec('r2', SHA('b')), rec('r3', SHA('c'))], 'r2', [], 2);
    expect(h.deployments.map((d) => [d.release, d.current])).toEqual([['r3', false], ['r2', true]]);
    expect(h.currentRelease).toBe('r2');
  });
});

describe('findRollbackTarget', () => {
  const full = (current: string) => buildHistory('lab', [
    rec('r1', SHA('a')), rec('r2', `${SHA('b')}+dirty`, { previous: 'r1' }), rec('r3', SHA('c'), { previous: 'r2' }), rec('r4', SHA('a'), { previous: 'r3', command: 'pbxctl rollback r1' }),
  ], current);

  it('goes to the release before the current one by default (its recorded previous)', () => {
    expect(findRollbackTarget(full('r4'))!.release).toBe('r3');
    expect(findRollbackTarget(full('r3'))!.release).toBe('r2');
  });

  it('finds a release by id and a commit by SHA prefix (the newest deployment of it)', () => {
    expect(findRollbackTarget(full('r4'), 'r2')!.release).toBe('r2');
    expect(findRollbackTarget(full('r4'), 'aaaaaaa')!.release).toBe('r4');
    expect(findRollbackTarget(full('r4'), 'CCCC')!.release).toBe('r3');
    expect(findRollbackTarget(full('r4'), 'dddd')).toBeUndefined();
    expect(findRollbackTarget(full('r4'), 'HEAD~1')).toBeUndefined();
  });

  it('refuses when there is nothing before the current deployment, or no current one', () => {
    const one = buildHistory('lab', [rec('r1', SHA('a'))], 'r1');
    expect(() => findRollbackTarget(one)).toThrow(expect.objectContaining({ code: 'NOTHING_TO_ROLL_BACK' }));
    const none = buildHistory('lab', [rec('r1', SHA('a'))], undefined);
    expect(() => findRollbackTarget(none)).toThrow(expect.objectContaining({ code: 'NOTHING_TO_ROLL_BACK' }));
  });

  it('refuses a SHA prefix matching two deployed commits', () => {
    const h = buildHistory('lab', [rec('r1', `abcd${'1'.repeat(36)}`), rec('r2', `abcd${'2'.repeat(36)}`)], 'r2');
    expect(() => findRollbackTarget(h, 'abcd')).toThrow(expect.objectContaining({ code: 'AMBIGUOUS_COMMIT' }));
    expect(findRollbackTarget(h, 'abcd2')!.release).toBe('r2');
  });
});

describe('history text', () => {
  it('shows release, short commit, author, UTC time, changes and subject, with the current release starred', () => {
    const h = buildHistory('office', [
      rec('r1', undefined, { user: 'root@pbx' }),
      rec('r2', `${SHA('b')}+dirty`),
      rec('r3', SHA('c'), { author: 'Alice Smith <alice@example.com>', subject: 'Add Carol', previous: 'r2' }),
    ], 'r3', [7]);
    const text = renderHistoryText(h);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Deployments on office (newest first; * = current):');
    expect(lines[2]).toMatch(/^\s+RELEASE\s+COMMIT\s+AUTHOR\s+TIME\s+CHANGES\s+SUBJECT$/);
    expect(lines[3]).toMatch(/^\* {2}r3\s+cccccccccccc\s+Alice Smith\s+2026-11-21 10:03:00Z\s+\+2 ~2 -1\s+Add Carol$/);
    expect(lines[4]).toMatch(/^ {3}r2\s+bbbbbbbbbbbb\+dirty\s+ci@runner/);
    expect(lines[5]).toMatch(/^ {3}r1\s+\(no git\)\s+root@pbx/);
    expect(text).toContain('Skipped unreadable lines of state/deployments.jsonl: 7.');
    expect(renderHistoryText(buildHistory('x', [], undefined))).toBe('No deployments recorded on x.');
  });

  it('small helpers', () => {
    expect(splitCommit('abc+dirty')).toEqual({ sha: 'abc', dirty: true });
    expect(summaryText({ create: 0, update: 1, delete: 2, replace: 0 })).toBe('+0 ~1 -2');
    expect(authorName('Bob <b@x>')).toBe('Bob');
  });
});
