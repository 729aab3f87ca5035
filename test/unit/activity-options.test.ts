import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { TASK_QUEUES } from '../../src/shared/task-queues';
import { ACTIVITY_OPTIONS, type ActivityName } from '../../src/workflows/activity-options';

/*
 * Which activities wait is read from their code, not from the table under test: an activity
 * waits when its body (or a helper of its module it calls) polls, heartbeats or sleeps.
 */
const ROOT = join(__dirname, '..', '..');
const WAITING_PRIMITIVES = new Set(['pollWithHeartbeat', 'heartbeat', 'sleep']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
}

/** The name a function-like node is known by in its module: `const x = () =>`, `function x`, `x() {}`, `x: () =>`. */
function nameOf(node: ts.Node): string | undefined {
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) && node.name && ts.isIdentifier(node.name)) return node.name.text;
  if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) {
    const parent = node.parent;
    if ((ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) && ts.isIdentifier(parent.name)) return parent.name.text;
  }
  return undefined;
}

function calledNames(body: ts.Node): Set<string> {
  const names = new Set<string>();
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (ts.isIdentifier(callee)) names.add(callee.text);
      else if (ts.isPropertyAccessExpression(callee)) names.add(callee.name.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(body);
  return names;
}

interface ActivityModule {
  file: string;
  /** The activities the module's factory returns. */
  activities: string[];
  waits: (activity: string) => boolean;
}

function activityModule(file: string): ActivityModule {
  const source = parse(file);
  const calls = new Map<string, Set<string>>();
  const activities: string[] = [];
  const visit = (node: ts.Node) => {
    const name = nameOf(node);
    if (name) calls.set(name, new Set([...(calls.get(name) ?? []), ...calledNames(node)]));
    if (ts.isFunctionDeclaration(node) && /^create\w*Activities$/.test(name ?? '')) {
      const statements = node.body?.statements ?? [];
      // `return { ...named, more }`: the members of `const named = { ... }` in the factory count too.
      const objects = new Map<string, ts.ObjectLiteralExpression>();
      for (const statement of statements) {
        if (!ts.isVariableStatement(statement)) continue;
        for (const declaration of statement.declarationList.declarations) {
          if (ts.isIdentifier(declaration.name) && declaration.initializer && ts.isObjectLiteralExpression(declaration.initializer)) objects.set(declaration.name.text, declaration.initializer);
        }
      }
      const members = (object: ts.ObjectLiteralExpression): void => {
        for (const member of object.properties) {
          if (ts.isSpreadAssignment(member) && ts.isIdentifier(member.expression) && objects.has(member.expression.text)) members(objects.get(member.expression.text)!);
          else if (member.name && ts.isIdentifier(member.name)) activities.push(member.name.text);
        }
      };
      for (const statement of statements) {
        if (ts.isReturnStatement(statement) && statement.expression && ts.isObjectLiteralExpression(statement.expression)) members(statement.expression);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  const waits = (activity: string, seen = new Set<string>()): boolean => {
    if (seen.has(activity)) return false;
    seen.add(activity);
    return [...(calls.get(activity) ?? [])].some((callee) => WAITING_PRIMITIVES.has(callee) || (calls.has(callee) && waits(callee, seen)));
  };
  return { file: relative(ROOT, file), activities, waits: (activity) => waits(activity) };
}

const modules = sourceFiles(join(ROOT, 'src', 'activities'))
  .filter((file) => !file.endsWith('poll.ts'))
  .map(activityModule)
  .filter((m) => m.activities.length > 0);
const defined = modules.flatMap((m) => m.activities.map((activity) => ({ activity, module: m })));
const options = ACTIVITY_OPTIONS as Record<ActivityName, { heartbeatTimeout?: unknown; scheduleToCloseTimeout?: unknown; startToCloseTimeout?: unknown }>;

describe('activity options', () => {
  it('finds the activities in their modules', () => {
    expect(defined.length).toBeGreaterThan(30);
    expect(defined.find((d) => d.activity === 'snapshotCluster')?.module.waits('snapshotCluster')).toBe(true);
    expect(defined.find((d) => d.activity === 'getStackOutputs')?.module.waits('getStackOutputs')).toBe(false);
  });

  it('has one entry per activity the factories define, and no other', () => {
    expect(Object.keys(options).sort()).toEqual(defined.map((d) => d.activity).sort());
  });

  it.each(defined.filter((d) => d.module.waits(d.activity)).map((d) => [d.activity, d.module.file]))(
    '%s waits (%s), so it runs with a heartbeat timeout',
    (activity) => {
      expect(options[activity as ActivityName].heartbeatTimeout).toBeDefined();
    },
  );

  // Thousands of waits held every slot of the AWS worker's one queue, and quick calls timed out queued behind them (docs/operators.md).
  it.each(defined.filter((d) => [TASK_QUEUES.aws, TASK_QUEUES.awsWait].includes((options[d.activity as ActivityName] as { taskQueue?: string }).taskQueue as never)).map((d) => [d.activity, d.module.waits(d.activity)] as const))(
    '%s runs on the AWS queue for its kind (waits: %s)',
    (activity, waits) => {
      expect((options[activity as ActivityName] as { taskQueue?: string }).taskQueue).toBe(waits ? TASK_QUEUES.awsWait : TASK_QUEUES.aws);
    },
  );

  it.each(Object.keys(options))('%s has a schedule-to-close limit', (activity) => {
    expect(options[activity as ActivityName].scheduleToCloseTimeout).toBeDefined();
  });

  it('workflows take their proxies from the table (no activity options written inline)', () => {
    const dir = join(ROOT, 'src', 'workflows');
    const inline = sourceFiles(dir)
      .filter((file) => !file.endsWith('activity-options.ts'))
      .flatMap((file) => {
        const found: string[] = [];
        const visit = (node: ts.Node) => {
          if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && /^proxy(Local)?Activities$/.test(node.expression.text)) {
            const arg = node.arguments[0];
            // Local activities take named options from activity-options.ts; anything else is inline.
            if (!arg || !ts.isIdentifier(arg)) found.push(`${relative(dir, file)}: ${node.getText()}`);
            else if (node.expression.text === 'proxyActivities') found.push(`${relative(dir, file)}: ${node.getText()}`);
          }
          ts.forEachChild(node, visit);
        };
        visit(parse(file));
        return found;
      });
    expect(inline).toEqual([]);
  });
});
