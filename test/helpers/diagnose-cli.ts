/**
 * Drives the COMPILED `siplogon diagnose` CLI as a child process (optionally inside a network
 * namespace), validates its --json output against schema/diagnosis-v1.schema.json and renders
 * its --report in headless Debian chromium. Everything a user would meet, nothing in-process.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import Ajv2020Mod from 'ajv/dist/2020.js';
import type { DiagnosisReport } from '../../src/diagnose/diagnose.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const SCHEMA_FILE = fileURLToPath(new URL('../../../schema/diagnosis-v1.schema.json', import.meta.url));
export const CHROMIUM = '/usr/bin/chromium';
export const SCRIPT = '/usr/bin/script';

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time of the child, for loose bounds only. */
  wallMs: number;
}

/**
 * Runs `node dist/src/cli/main.js ...args` with `env` added to a minimal environment. `ns` runs it
 * inside that network namespace (`ip netns exec`). Killed after `killAfterMs` so a hang fails the test.
 */
export function runCli(args: string[], opts: { env?: Record<string, string>; ns?: string; killAfterMs?: number; tty?: boolean } = {}): Promise<CliRun> {
  let cmd = opts.ns ? 'ip' : process.execPath;
  let argv = opts.ns ? ['netns', 'exec', opts.ns, process.execPath, CLI, ...args] : [CLI, ...args];
  if (opts.tty) {
    // util-linux script(1) gives the CLI a pseudo-terminal, as an administrator's shell would; -e keeps its exit code.
    assert.ok(existsSync(SCRIPT), `${SCRIPT} is missing: apt-get install -y bsdutils (util-linux script)`);
    const quote = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;
    argv = ['-qec', [cmd, ...argv].map(quote).join(' '), '/dev/null'];
    cmd = SCRIPT;
  }
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root', ...opts.env };
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(kill);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(kill);
      resolve({ code, signal, stdout, stderr, wallMs: performance.now() - t0 });
    });
  });
}

type Validator = ((data: unknown) => boolean) & { errors?: unknown };
let validator: Validator | undefined;

/** Ajv 2020-12 validator for the report schema; `date-time` checked as RFC 3339 (ajv-formats is not a dependency). */
export function schemaValidator(): Validator {
  if (validator) return validator;
  const Ajv2020 = ((Ajv2020Mod as unknown as { default?: unknown }).default ?? Ajv2020Mod) as new (o: object) => {
    addFormat(name: string, f: (s: string) => boolean): void;
    compile(schema: unknown): Validator;
  };
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  ajv.addFormat('date-time', (s) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s) && !Number.isNaN(Date.parse(s)));
  validator = ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')));
  return validator;
}

/** Parses --json stdout and asserts it is valid against the published schema. */
export function parseReport(run: CliRun): DiagnosisReport {
  let report: unknown;
  try {
    report = JSON.parse(run.stdout);
  } catch {
    assert.fail(`stdout is not JSON (exit ${run.code}):\n${run.stdout}\n--- stderr ---\n${run.stderr}`);
  }
  const v = schemaValidator();
  assert.ok(v(report), `report violates schema/diagnosis-v1.schema.json: ${JSON.stringify(v.errors, null, 2)}`);
  return report as DiagnosisReport;
}

/** Every place a secret could leak to: the child's output, the JSON and the HTML file. */
export function assertNoSecret(secret: string, run: CliRun, reportFile?: string): void {
  assert.ok(!run.stdout.includes(secret), 'password in stdout');
  assert.ok(!run.stderr.includes(secret), 'password in stderr');
  if (reportFile) assert.ok(!readFileSync(reportFile, 'utf8').includes(secret), 'password in the HTML report');
}

/** Renders a file in headless chromium and returns the DOM it built. Fails loudly when chromium is missing. */
export function dumpDom(file: string, killAfterMs = 30_000): Promise<string> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (needed to check the HTML report renders)`);
  const profile = mkdtempSync(join(tmpdir(), 'sldg-chromium-'));
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, '--dump-dom', `file://${file}`];
  return new Promise((resolve, reject) => {
    const child = spawn(CHROMIUM, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    const done = (): void => {
      clearTimeout(kill);
      rmSync(profile, { recursive: true, force: true });
    };
    child.on('error', (e) => {
      done();
      reject(e);
    });
    child.on('close', (code) => {
      done();
      if (code !== 0 || !out.includes('</html>')) reject(new Error(`chromium --dump-dom exited ${code}:\n${err.slice(-2000)}`));
      else resolve(out);
    });
  });
}

/** Text of the element with this id in a dumped DOM (tags stripped, entities decoded), or undefined. */
export function elementText(dom: string, id: string): string | undefined {
  const open = new RegExp(`<(\\w+)[^>]*\\sid="${id}"[^>]*>`).exec(dom);
  if (!open || !open[1]) return undefined;
  const tag = open[1];
  const start = open.index + open[0].length;
  const end = dom.indexOf(`</${tag}>`, start);
  const inner = dom.slice(start, end < 0 ? undefined : end);
  return inner
    .replace(/<[^>]+>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}
