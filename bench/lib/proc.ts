/**
 * Child-process helpers for the benches. Every wait is bounded; every process we start is
 * tracked by pid so cleanup ends exactly what the bench started (never by name).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (or kills it after timeoutMs) and collects its output. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 10_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Like run(), but a non-zero exit is an error carrying the command's stderr. */
export async function runOk(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

/** Synchronous variant for exit/signal handlers, where the event loop is not available. */
export function runSyncQuiet(cmd: string, args: string[]): void {
  spawnSync(cmd, args, { stdio: 'ignore', timeout: 5_000 });
}

export interface Background {
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Exit code/signal once exited, else undefined. */
  exitStatus(): string | undefined;
  readonly pid: number;
  /** Resolves with the exit code/signal once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  /** Signals the whole process group (the process and anything it forked). */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a long-running process in its own process group with output to a log file, so a
 * SIGKILL of the group also takes down forked workers (Kamailio forks its TCP workers).
 */
export function startBackground(
  cmd: string,
  args: string[],
  opts: { logFile: string; env?: NodeJS.ProcessEnv; stdinPipe?: boolean },
): Background {
  const fd = openSync(opts.logFile, 'a');
  const child = spawn(cmd, args, {
    detached: true,
    stdio: [opts.stdinPipe ? 'pipe' : 'ignore', fd, fd],
    env: opts.env ?? process.env,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  const pid = child.pid;
  let done = false;
  let status: string | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      done = true;
      status = signal ? `signal ${signal}` : `code ${code}`;
      resolve({ code, signal });
    });
    child.on('error', () => {
      done = true;
      resolve({ code: null, signal: null });
    });
  });
  const signalGroup = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* already gone */
    }
  };
  return {
    child,
    logFile: opts.logFile,
    exitStatus: () => status,
    pid,
    exited,
    hasExited: () => done,
    signal: signalGroup,
    async stop(graceMs = 2_000) {
      if (done) {
        signalGroup('SIGKILL'); // forked leftovers of an exited leader
        return;
      }
      signalGroup('SIGTERM');
      const t = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
      signalGroup('SIGKILL');
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a value other than undefined, or throws after timeoutMs. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 50): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Last bytes of a log file, for error messages (clients never log secrets at this level). */
export function logTail(file: string, max = 300): string {
  try {
    const t = readFileSync(file, 'utf8').trim();
    return t.length > max ? `…${t.slice(-max)}` : t;
  } catch {
    return '';
  }
}

/** "X exited (code 2) before …: <log tail>" for a client that died before the measurement ended. */
export function earlyExit(name: string, p: Background | undefined): string | undefined {
  if (!p?.hasExited()) return undefined;
  const tail = logTail(p.logFile).replace(/\s+/g, ' ');
  return `${name} exited (${p.exitStatus() ?? '?'}) before the contact was held${tail ? `: ${tail}` : ''}`;
}
