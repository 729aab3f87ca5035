import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { findBrokenLinks, githubSlug, projectDocs } from '../../scripts/check-links';

describe('the link checker (npm run test:links)', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'check-links-'));
    mkdirSync(join(root, 'docs'));
    writeFileSync(join(root, 'docs', 'guide.md'), '# Guide\n\n## Exit codes\n\n## Running `tenantctl` for real: AWS & Temporal\n\n## Exit codes\n');
    writeFileSync(join(root, 'scripts.sh'), 'echo\n');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const check = (readme: string) => {
    writeFileSync(join(root, 'README.md'), readme);
    return findBrokenLinks(projectDocs(root)).map(({ file, line, target, problem }) => ({ file: file.slice(root.length + 1), line, target, problem }));
  };

  it('accepts links to files, headings (GitHub anchors, duplicates numbered), own headings and external pages', () => {
    expect(
      check(
        [
          '# Project',
          '## Local part',
          'See [the guide](docs/guide.md), [exit codes](docs/guide.md#exit-codes) and [again](docs/guide.md#exit-codes-1),',
          '[for real](docs/guide.md#running-tenantctl-for-real-aws--temporal), [above](#local-part), [a script](./scripts.sh),',
          '[the folder](docs/) and [a site](https://example.com/missing#nothing).',
          '[ref]: docs/guide.md#guide',
        ].join('\n'),
      ),
    ).toEqual([]);
  });

  it('reports a missing file, a missing heading and a missing own heading, with their lines', () => {
    expect(check('# Project\n\n[gone](docs/gone.md)\n[no heading](docs/guide.md#no-such-heading) [self](#nowhere)\n[ref]: ./missing.txt\n')).toEqual([
      { file: 'README.md', line: 3, target: 'docs/gone.md', problem: 'no such file: docs/gone.md' },
      { file: 'README.md', line: 4, target: 'docs/guide.md#no-such-heading', problem: 'no heading with anchor #no-such-heading in docs/guide.md' },
      { file: 'README.md', line: 4, target: '#nowhere', problem: 'no heading with anchor #nowhere in this file' },
      { file: 'README.md', line: 5, target: './missing.txt', problem: 'no such file: ./missing.txt' },
    ]);
  });

  it('checks the docs pages too, relative to their own folder', () => {
    writeFileSync(join(root, 'docs', 'other.md'), '# Other\n\n[back](../README.md#nope) [up](guide.md#guide)\n');
    expect(check('# Project\n')).toEqual([
      { file: 'docs/other.md', line: 3, target: '../README.md#nope', problem: 'no heading with anchor #nope in ../README.md' },
    ]);
  });

  it('ignores links inside code blocks and code spans', () => {
    expect(check('# Project\n\n```md\n[gone](docs/gone.md)\n```\n\n`[gone](docs/gone.md)`\n')).toEqual([]);
  });

  it('makes anchors the way GitHub does', () => {
    expect(githubSlug('Sandbox fault convention: `-broken` images')).toBe('sandbox-fault-convention--broken-images');
    expect(githubSlug('Fault conventions (how a test makes things fail on demand)')).toBe('fault-conventions-how-a-test-makes-things-fail-on-demand');
    expect(githubSlug("Operator's guide")).toBe('operators-guide');
  });

  it('finds no broken link in this repository', () => {
    expect(findBrokenLinks(projectDocs(resolve(__dirname, '..', '..')))).toEqual([]);
  });
});
