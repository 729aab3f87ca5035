import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { repoRoot } from '../sandbox/tools';
import { TEST_SANDBOX_DIR } from './sandbox-env';

/**
 * Ctrl-C at any point of `npm run sandbox`'s and `npm run demo`'s start-up stops every server
 * the script started or was starting (their servers run in process groups of their own, which a
 * terminal's Ctrl-C never reaches), and the script exits 130. Each case runs the command of
 * package.json (without its setup step) as a terminal would, in a process group of its own,
 * watches which processes and listening sockets belong to it (its process group, the servers'
 * pid files and process groups, anything whose arguments name its state folder), sends SIGINT to
 * the group at one point of the start-up, and then finds none of them left.
 */
const STATE_DIR = `${TEST_SANDBOX_DIR}-scripts`;
const KUBE_PIDS = join(STATE_DIR, 'kube', 'clusters', 'tenant-fleet', 'pids');

describe('an interrupted start-up leaves no server running', () => {
  it('npm run sandbox: while Temporal and moto start', async () => {
    const run = await interruptAt('sandbox', () => existsSync(join(STATE_DIR, 'temporal', 'temporal.pid')) && existsSync(join(STATE_DIR, 'aws', 'moto.pid')));
    expect(run.servers).toEqual(expect.arrayContaining(['temporal', 'moto']));
  });

  it('npm run sandbox: while kwokctl starts the Kubernetes components', async () => {
    const run = await interruptAt('sandbox', () => pidFiles(KUBE_PIDS).length >= 2);
    expect(run.servers).toEqual(expect.arrayContaining(['temporal', 'moto', 'etcd']));
  });

  it('npm run sandbox: right after the env file is written, while the workers start', async () => {
    const run = await interruptAt('sandbox', () => existsSync(join(STATE_DIR, 'env')));
    expect(run.servers).toEqual(expect.arrayContaining(['temporal', 'moto', 'etcd', 'kube-apiserver', 'kwok-controller']));
  });

  it('npm run demo: while the AWS accounts are seeded', async () => {
    const run = await interruptAt('demo', (output) => output.includes('seeding AWS accounts'));
    // The seeding and the Kubernetes cluster start together once moto answers: the cluster may be anywhere in its start.
    expect(run.servers).toEqual(expect.arrayContaining(['temporal', 'moto']));
  });

  it('npm run demo: while the tenants provision', async () => {
    const run = await interruptAt('demo', (output) => output.includes('[demo] provisioning'));
    expect(run.servers).toEqual(expect.arrayContaining(['temporal', 'moto', 'kube-apiserver']));
  });
});

interface Observed {
  /** Every process seen belonging to the run. */
  pids: Set<number>;
  /** The servers among them, by pid file name: temporal, moto, etcd, kube-apiserver, kwok-controller, … */
  servers: Set<string>;
  pgids: Set<number>;
  ports: Set<number>;
}

/** Starts the script, SIGINTs its process group once `ready` holds, and checks what is left. */
async function interruptAt(script: 'sandbox' | 'demo', ready: (output: string) => boolean): Promise<{ servers: string[] }> {
  const command = scriptCommand(script);
  // `npm run sandbox` resumes its state folder: an env file of an earlier run is no sign of this one.
  rmSync(join(STATE_DIR, 'env'), { force: true });
  const child = spawn('sh', ['-c', command], {
    cwd: repoRoot,
    env: { ...process.env, TENANT_FLEET_SANDBOX_DIR: STATE_DIR, CI: 'true' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pgid = child.pid!;
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const observed: Observed = { pids: new Set(), servers: new Set(), pgids: new Set([pgid]), ports: new Set() };
  let running = true;
  void exited.then(() => (running = false));
  const watcher = setInterval(() => observe(observed), 100);
  try {
    const deadline = Date.now() + 240_000;
    while (!ready(output)) {
      if (!running) throw new Error(`${command} exited before the point to interrupt at\n--- output ---\n${output.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`${command}: the point to interrupt at not reached in 240 s\n--- output ---\n${output.slice(-3000)}`);
      await sleep(50);
    }
    observe(observed);
    process.kill(-pgid, 'SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([exited, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 90_000)))]);
    clearTimeout(timer);
    clearInterval(watcher);
    const servers = [...observed.servers];
    const left = await leftovers(observed);
    const context = `${command} interrupted; servers seen: ${servers.join(', ')}; ports ${[...observed.ports].join(', ')}\n--- output ---\n${output.slice(-3000)}`;
    expect({ exit, processes: left.processes.map(describeProc), ports: left.ports, context }).toEqual({ exit: { code: 130, signal: null }, processes: [], ports: [], context });
    return { servers };
  } finally {
    clearInterval(watcher);
    // A failed case must not leave its servers to the next one.
    for (const proc of (await leftovers(observed, 0)).processes) {
      signalGroup(proc.pgid, 'SIGKILL');
      signalPid(proc.pid, 'SIGKILL');
    }
    await exited;
  }
}

/** package.json's command for the script, after its setup step (the tools are in place). */
function scriptCommand(script: string): string {
  const scripts = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const command = scripts[script]!.replace(/^bash scripts\/setup\.sh && /, '');
  if (command.includes('setup.sh')) throw new Error(`package.json's ${script} script changed its form: ${scripts[script]}`);
  return command;
}

/** Records the run's processes (by process group, pid file or state folder in the arguments) and their listening ports. */
function observe(observed: Observed): void {
  const fromPidFiles = new Map(
    [join(STATE_DIR, 'temporal', 'temporal.pid'), join(STATE_DIR, 'aws', 'moto.pid'), ...pidFiles(KUBE_PIDS)].flatMap((file) => readPid(file).map((pid) => [pid, basename(file, '.pid')] as const)),
  );
  const inodes = new Set<string>();
  for (const proc of processes()) {
    const server = fromPidFiles.get(proc.pid);
    if (!(observed.pgids.has(proc.pgid) || server || proc.cmdline.includes(STATE_DIR))) continue;
    observed.pids.add(proc.pid);
    if (server) observed.servers.add(server);
    // The servers' own groups: whatever they start joins them.
    if (proc.pid === proc.pgid) observed.pgids.add(proc.pgid);
    for (const inode of socketInodes(proc.pid)) inodes.add(inode);
  }
  for (const socket of listeningSockets()) if (inodes.has(socket.inode)) observed.ports.add(socket.port);
}

/** What is still there: processes of the run (not zombies) and listening sockets on its ports. Waits up to `waitMs` for SIGKILLed ones to go. */
async function leftovers(observed: Observed, waitMs = 3_000): Promise<{ processes: Proc[]; ports: number[] }> {
  const until = Date.now() + waitMs;
  for (;;) {
    const procs = processes()
      .filter((p) => p.state !== 'Z' && p.pid !== process.pid)
      .filter((p) => observed.pgids.has(p.pgid) || observed.pids.has(p.pid) || p.cmdline.includes(STATE_DIR));
    const ports = [...new Set(listeningSockets().map((s) => s.port))].filter((port) => observed.ports.has(port));
    if ((procs.length === 0 && ports.length === 0) || Date.now() > until) return { processes: procs, ports };
    await sleep(200);
  }
}

interface Proc {
  pid: number;
  pgid: number;
  state: string;
  comm: string;
  cmdline: string;
}

function processes(): Proc[] {
  const list: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
      const close = stat.lastIndexOf(')');
      const [state, , pgrp] = stat.slice(close + 2).split(' ');
      list.push({
        pid: Number(entry),
        pgid: Number(pgrp),
        state: state ?? '?',
        comm: stat.slice(stat.indexOf('(') + 1, close),
        cmdline: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim(),
      });
    } catch {
      // gone meanwhile
    }
  }
  return list;
}

function socketInodes(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      try {
        return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.slice(1, 2) ?? [];
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

/** LISTEN sockets (state 0A) from /proc/net/tcp and tcp6: local port and inode. */
function listeningSockets(): { port: number; inode: string }[] {
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((cols) => cols[3] === '0A')
      .map((cols) => ({ port: Number.parseInt(cols[1]!.split(':')[1]!, 16), inode: cols[9]! })),
  );
}

function pidFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.pid')).map((f) => join(dir, f));
  } catch {
    return [];
  }
}

function readPid(path: string): number[] {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 1 ? [pid] : [];
  } catch {
    return [];
  }
}

function describeProc(p: Proc): string {
  return `${p.pid} (group ${p.pgid}) ${p.cmdline.slice(0, 160)}`;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  signalPid(-pgid, signal);
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
