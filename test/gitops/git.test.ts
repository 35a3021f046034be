import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheRepoFor, checkRefName, commitInfo, exportTree, fetchRef, gitEnv, isAncestor, normalizeSource, resolveCommit } from '../../src/gitops/git.js';
import { commitFiles, gitIn, initRepo, tempDir, writeFiles } from './git-fixture.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let repo: string;
let first: string;
let second: string;

beforeAll(async () => {
  tmp = await tempDir('git');
  repo = join(tmp.dir, 'repo');
  await mkdir(repo, { recursive: true });
  initRepo(repo);
  first = await commitFiles(repo, { 'pbx.yaml': 'name: one\n', 'extensions/a.yaml': 'a: 1\n' }, 'First: the base', 'Alice Smith <alice@example.com>');
  second = await commitFiles(repo, { 'pbx.yaml': 'name: two\n' }, 'Rename "two"; with: colons', 'Bob O\'Neil <bob@example.com>');
});
afterAll(() => tmp.cleanup());

describe('commits', () => {
  it('resolves revisions and reads author and subject', async () => {
    expect(await resolveCommit(repo, 'HEAD~1')).toBe(first);
    expect(await resolveCommit(repo, second.slice(0, 8))).toBe(second);
    expect(await resolveCommit(repo, 'f'.repeat(40))).toBeUndefined();
    const info = await commitInfo(repo, 'main');
    expect(info).toMatchObject({ sha: second, author: 'Bob O\'Neil <bob@example.com>', subject: 'Rename "two"; with: colons' });
    expect(info.date).toMatch(/^\d{4}-\d\d-\d\dT/);
    await expect(commitInfo(repo, 'deadbeef')).rejects.toMatchObject({ code: 'COMMIT_NOT_FOUND' });
  });

  it('tells ancestors apart, and says when it cannot know', async () => {
    expect(await isAncestor(repo, first, second)).toBe(true);
    expect(await isAncestor(repo, second, first)).toBe(false);
    expect(await isAncestor(repo, first, first)).toBe(true);
    expect(await isAncestor(repo, first, 'e'.repeat(40))).toBeUndefined();
    await expect(isAncestor(repo, 'main', first)).rejects.toThrow(/full commit ids/);
  });

  it('rejects option-like and malformed names before git sees them', async () => {
    expect(() => checkRefName('--upload-pack=touch /tmp/x')).toThrow(expect.objectContaining({ code: 'BAD_REF' }));
    expect(() => checkRefName('main..evil')).toThrow(expect.objectContaining({ code: 'BAD_REF' }));
    expect(() => checkRefName('a b')).toThrow(expect.objectContaining({ code: 'BAD_REF' }));
    expect(checkRefName('refs/heads/release-1.2')).toBe('refs/heads/release-1.2');
    await expect(resolveCommit(repo, '-h')).rejects.toMatchObject({ code: 'BAD_REF' });
  });

  it('exports the committed tree, not the work tree, without .git', async () => {
    await writeFiles(repo, { 'pbx.yaml': 'name: uncommitted\n', 'new.yaml': 'x: 1\n' });
    const tree = await exportTree(repo, first);
    try {
      expect(await readFile(join(tree.dir, 'pbx.yaml'), 'utf8')).toBe('name: one\n');
      expect(await readFile(join(tree.dir, 'extensions/a.yaml'), 'utf8')).toBe('a: 1\n');
      expect(await stat(join(tree.dir, 'new.yaml')).catch(() => undefined)).toBeUndefined();
      expect(await stat(join(tree.dir, '.git')).catch(() => undefined)).toBeUndefined();
      expect(await stat(join(tree.dir, '.pbxctl-tree.tar')).catch(() => undefined)).toBeUndefined();
    } finally {
      await tree.cleanup();
      gitIn(repo, ['checkout', '-q', '--', 'pbx.yaml']);
    }
    expect(await stat(tree.dir).catch(() => undefined)).toBeUndefined();
  });
});

describe('fetchRef into the sync cache', () => {
  it('fetches a branch of a local repo, follows new and force-pushed commits', async () => {
    const cache = cacheRepoFor(normalizeSource(repo), join(tmp.dir, 'cache'));
    const a = await fetchRef(repo, 'main', cache);
    expect(a.sha).toBe(second);
    expect(a.author).toContain('Bob');
    const third = await commitFiles(repo, { 'c.yaml': 'c: 3\n' }, 'Third');
    expect((await fetchRef(repo, 'refs/heads/main', cache)).sha).toBe(third);
    // History rewritten upstream: the cache follows the source.
    gitIn(repo, ['reset', '-q', '--hard', first]);
    expect((await fetchRef(repo, 'main', cache)).sha).toBe(first);
  });

  it('fetches from a shallow clone (what CI checkouts are)', async () => {
    const shallow = join(tmp.dir, 'shallow');
    gitIn(tmp.dir, ['clone', '-q', '--depth', '1', `file://${repo}`, shallow]);
    const cache = join(tmp.dir, 'cache', 'shallow.git');
    const c = await fetchRef(shallow, 'HEAD', cache);
    expect(c.sha).toBe(gitIn(repo, ['rev-parse', 'HEAD']));
    const tree = await exportTree(cache, c.sha);
    await tree.cleanup();
    // A second, deeper history into the same cache.
    expect((await fetchRef(repo, 'main', cache)).sha).toBe(c.sha);
  });

  it('fails with FETCH_FAILED naming the source for an unknown ref or a missing repo', async () => {
    const cache = join(tmp.dir, 'cache', 'x.git');
    await expect(fetchRef(repo, 'no-such-branch', cache)).rejects.toMatchObject({ code: 'FETCH_FAILED', message: expect.stringContaining('no-such-branch') });
    await expect(fetchRef(join(tmp.dir, 'missing'), 'main', cache)).rejects.toMatchObject({ code: 'FETCH_FAILED' });
  });

  it('is not confused by the GIT_DIR of a hook it runs from', async () => {
    const saved = process.env.GIT_DIR;
    process.env.GIT_DIR = join(tmp.dir, 'nowhere');
    try {
      expect(gitEnv().GIT_DIR).toBeUndefined();
      expect(gitEnv().GIT_TERMINAL_PROMPT).toBe('0');
      expect((await fetchRef(repo, 'main', join(tmp.dir, 'cache', 'hook.git'))).sha).toBe(first);
    } finally {
      if (saved === undefined) delete process.env.GIT_DIR;
      else process.env.GIT_DIR = saved;
    }
  });
});

describe('sources', () => {
  it('keeps URLs, makes directories absolute, and gives each source its own cache repo', () => {
    expect(normalizeSource('https://git.example.com/acme/pbx.git')).toBe('https://git.example.com/acme/pbx.git');
    expect(normalizeSource('git@github.com:acme/pbx.git')).toBe('git@github.com:acme/pbx.git');
    expect(normalizeSource('repo', '/srv')).toBe('/srv/repo');
    const a = cacheRepoFor('https://git.example.com/acme/pbx.git', '/c');
    expect(a).toMatch(/^\/c\/pbx-[0-9a-f]{12}\.git$/);
    expect(cacheRepoFor('/srv/other/pbx.git', '/c')).not.toBe(a);
  });
});
