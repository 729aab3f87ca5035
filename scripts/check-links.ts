// `npm run test:links`: every relative link in README.md and docs/*.md must reach a file that
// exists and, when it names an #anchor, a heading of that Markdown file. External links are not
// fetched (tests run offline); a moved or renamed page or heading is what breaks in practice.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export interface BrokenLink {
  file: string;
  line: number;
  target: string;
  problem: string;
}

/** README.md and every docs/*.md of the repository at `root`. */
export function projectDocs(root: string): string[] {
  const docsDir = join(root, 'docs');
  const docs = existsSync(docsDir) ? readdirSync(docsDir).filter((name) => name.endsWith('.md')).sort().map((name) => join(docsDir, name)) : [];
  return [join(root, 'README.md'), ...docs];
}

/** Every relative link in `files` that does not resolve, with the line it is on. */
export function findBrokenLinks(files: readonly string[]): BrokenLink[] {
  const anchorsByFile = new Map<string, Set<string>>();
  const anchorsOf = (path: string): Set<string> => {
    let anchors = anchorsByFile.get(path);
    if (!anchors) {
      anchors = headingAnchors(readFileSync(path, 'utf8'));
      anchorsByFile.set(path, anchors);
    }
    return anchors;
  };

  const broken: BrokenLink[] = [];
  for (const file of files) {
    for (const { line, target } of linksIn(readFileSync(file, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue; // http:, mailto:, ...
      const hash = target.indexOf('#');
      const pathPart = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
      const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
      const destination = pathPart === '' ? file : resolve(dirname(file), pathPart);
      const report = (problem: string) => broken.push({ file, line, target, problem });
      if (!existsSync(destination)) {
        report(`no such file: ${pathPart}`);
        continue;
      }
      if (anchor === undefined || anchor === '') continue;
      if (statSync(destination).isDirectory() || !destination.endsWith('.md')) {
        report(`#${anchor} points into ${pathPart}, which is not a Markdown file`);
      } else if (!anchorsOf(destination).has(anchor)) {
        report(`no heading with anchor #${anchor} in ${pathPart === '' ? 'this file' : pathPart}`);
      }
    }
  }
  return broken;
}

/** Inline links `[text](target)`, images and reference definitions `[id]: target`, outside code. */
function linksIn(markdown: string): { line: number; target: string }[] {
  const links: { line: number; target: string }[] = [];
  let fence: string | undefined;
  markdown.split('\n').forEach((text, index) => {
    const fenceMark = /^\s*(```+|~~~+)/.exec(text)?.[1];
    if (fenceMark && (fence === undefined || fenceMark.startsWith(fence))) {
      fence = fence === undefined ? fenceMark : undefined;
      return;
    }
    if (fence !== undefined) return;
    const line = index + 1;
    const prose = text.replace(/(`+)[\s\S]*?\1/g, '');
    for (const match of prose.matchAll(/\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ line, target: match[1]!.replace(/^<|>$/g, '') });
    }
    const definition = /^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(prose);
    if (definition) links.push({ line, target: definition[1]!.replace(/^<|>$/g, '') });
  });
  return links;
}

/** The anchors GitHub gives a file's headings (and explicit `<a id>`/`<a name>` anchors). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fence: string | undefined;
  for (const text of markdown.split('\n')) {
    const fenceMark = /^\s*(```+|~~~+)/.exec(text)?.[1];
    if (fenceMark && (fence === undefined || fenceMark.startsWith(fence))) {
      fence = fence === undefined ? fenceMark : undefined;
      continue;
    }
    if (fence !== undefined) continue;
    for (const match of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(match[1]!);
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(text)?.[1];
    if (heading === undefined) continue;
    const slug = githubSlug(heading);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** GitHub's rule: the heading's text, lower-cased, punctuation dropped, spaces as hyphens. */
export function githubSlug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link's text only
    .replace(/<[^>]+>/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

if (require.main === module) {
  const root = resolve(__dirname, '..');
  const files = projectDocs(root);
  const broken = findBrokenLinks(files);
  for (const link of broken) console.error(`${relative(root, link.file)}:${link.line}: ${link.target}: ${link.problem}`);
  if (broken.length > 0) {
    console.error(`${broken.length} broken link${broken.length === 1 ? '' : 's'} in README.md and docs/`);
    process.exit(1);
  }
  console.log(`links: ${files.length} files checked, no broken relative link`);
}
