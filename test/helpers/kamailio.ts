/**
 * Reusable test registrar: a real Kamailio 5.6 started with a config generated from code into a
 * fresh temp directory. Digest auth from an in-script user table, usrloc in memory, optional
 * 301 redirect, provisioning SUBSCRIBE and SERVICE answers. Fails loudly if kamailio is missing.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const KAMAILIO_BIN = '/usr/sbin/kamailio';
export const KAMCMD_BIN = '/usr/sbin/kamcmd';
const MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules/';

export interface KamailioListen {
  proto: 'tcp' | 'tls';
  address: string;
  port: number;
}

export interface KamailioOptions {
  /** Directory for config, runtime files and the ctl socket; default a new temp dir (removed on stop). */
  dir?: string;
  listen: KamailioListen[];
  tls?: { certFile: string; keyFile: string };
  /** user → password, digest realm = To domain. */
  users: Record<string, string>;
  /** SIP domain; informational (realm is taken from the request). */
  domain?: string;
  algorithm?: 'MD5' | 'SHA-256';
  /** Answer every REGISTER with 301 and these Contact values (e.g. `<sip:b.example.test:5061;transport=tls>;q=0.9`). */
  redirect?: { contacts: string[] };
  /** Answer SUBSCRIBE Event: vnd-microsoft-provisioning-v2 with 200 and this body (after auth). */
  provisioning?: { body: string };
  /** Answer SERVICE with 200 and this body (after auth). */
  service?: { body: string };
  /** Allow-Events header added to 200 OK of REGISTER. */
  allowEvents?: string;
  /** Max time to wait for the listeners, default 15000 ms. */
  startTimeoutMs?: number;
}

export interface KamailioHandle {
  pid: number;
  dir: string;
  stop(): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
  /** Contact URIs currently in usrloc (kamcmd ul.dump). */
  contacts(): Promise<string[]>;
  /** Everything Kamailio wrote to stderr so far (includes one "SIPLOGON-TEST <method> from <ip:port> ci=<Call-ID>" line per request; stderr arrives asynchronously, allow a moment). */
  logs(): string;
}

/** Kamailio config strings: escape backslash, quote, newline; `$` starts a pseudo-variable. */
function cfgString(s: string): string {
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/\$/g, '$$$$') + '"';
}

export function buildConfig(o: KamailioOptions, dir: string): string {
  const usesTls = o.listen.some((l) => l.proto === 'tls');
  const lines: string[] = [
    '#!KAMAILIO',
    'debug=2',
    'log_stderror=yes',
    'memdbg=5',
    'memlog=5',
    'children=2',
    'tcp_children=2',
    'auto_aliases=no',
    'disable_tcp=no',
    'tcp_connection_lifetime=3605',
    ...o.listen.map((l) => `listen=${l.proto}:${l.address}:${l.port}`),
    usesTls ? 'enable_tls=yes' : 'enable_tls=no',
    `mpath="${MODULES}"`,
    'loadmodule "kex.so"',
    'loadmodule "ctl.so"',
    'loadmodule "sl.so"',
    'loadmodule "pv.so"',
    'loadmodule "textops.so"',
    'loadmodule "maxfwd.so"',
    'loadmodule "xlog.so"',
    'loadmodule "auth.so"',
    'loadmodule "usrloc.so"',
    'loadmodule "registrar.so"',
    usesTls ? 'loadmodule "tls.so"' : '',
    `modparam("ctl", "binrpc", "unix:${join(dir, 'kamailio_ctl')}")`,
    'modparam("usrloc", "db_mode", 0)',
    'modparam("registrar", "max_expires", 3600)',
    'modparam("registrar", "min_expires", 10)',
    `modparam("auth", "algorithm", "${o.algorithm ?? 'MD5'}")`,
    usesTls ? `modparam("tls", "config", "${join(dir, 'tls.cfg')}")` : '',
    '',
    'request_route {',
    '  xlog("L_NOTICE", "SIPLOGON-TEST $rm from $si:$sp ci=$ci\\n");',
    '  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }',
  ];
  if (o.redirect) {
    lines.push('  if (is_method("REGISTER")) {');
    for (const c of o.redirect.contacts) lines.push(`    append_to_reply(${cfgString(`Contact: ${c}\r\n`)});`);
    lines.push('    sl_send_reply("301", "Moved Permanently");', '    exit;', '  }');
  }
  lines.push('  if (is_method("OPTIONS")) { sl_send_reply("200", "OK"); exit; }');
  lines.push('  route(AUTH);');
  lines.push('  if (is_method("REGISTER")) {');
  if (o.allowEvents) lines.push(`    append_to_reply(${cfgString(`Allow-Events: ${o.allowEvents}\r\n`)});`);
  lines.push('    if (!save("location")) { sl_reply_error(); }', '    exit;', '  }');
  if (o.provisioning) {
    lines.push(
      '  if (is_method("SUBSCRIBE") && $hdr(Event) =~ "vnd-microsoft-provisioning-v2") {',
      '    append_to_reply("Expires: 0\\r\\nEvent: vnd-microsoft-provisioning-v2\\r\\n");',
      `    set_reply_body(${cfgString(o.provisioning.body)}, "application/vnd-microsoft-roaming-provisioning-v2+xml");`,
      '    sl_send_reply("200", "OK");',
      '    exit;',
      '  }',
    );
  }
  if (o.service) {
    lines.push(
      '  if (is_method("SERVICE")) {',
      `    set_reply_body(${cfgString(o.service.body)}, "application/msrtc-media-relay-auth+xml");`,
      '    sl_send_reply("200", "OK");',
      '    exit;',
      '  }',
    );
  }
  lines.push('  sl_send_reply("405", "Method Not Allowed");', '  exit;', '}', '');
  lines.push('route[AUTH] {', '  $var(pw) = "";');
  for (const [user, pw] of Object.entries(o.users)) lines.push(`  if ($au == ${cfgString(user)}) { $var(pw) = ${cfgString(pw)}; }`);
  lines.push(
    '  if ($var(pw) == "" || !pv_www_authenticate("$td", "$var(pw)", "0")) {',
    '    xlog("L_NOTICE", "SIPLOGON-TEST challenge $rm user=$au\\n");',
    '    www_challenge("$td", "1");',
    '    exit;',
    '  }',
    '  consume_credentials();',
    '}',
  );
  return lines.filter((l) => l !== '').join('\n') + '\n';
}

function waitForPort(address: string, port: number, deadline: number, proc: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (proc.exitCode !== null || proc.signalCode !== null) return reject(new Error(`kamailio exited (${proc.exitCode ?? proc.signalCode}) before ${address}:${port} accepted`));
      const s = net.connect({ host: address, port });
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`kamailio did not accept on ${address}:${port} in time`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(p: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (p.pid) process.kill(-p.pid, signal);
  } catch {
    /* already gone */
  }
}

export async function startKamailio(o: KamailioOptions): Promise<KamailioHandle> {
  if (!existsSync(KAMAILIO_BIN)) throw new Error(`${KAMAILIO_BIN} is missing: install kamailio and kamailio-tls-modules`);
  if (o.listen.length === 0) throw new Error('startKamailio: at least one listen entry is needed');
  const ownDir = o.dir === undefined;
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'kam-'));
  if (o.listen.some((l) => l.proto === 'tls')) {
    if (!o.tls) throw new Error('startKamailio: a tls listener needs tls.certFile/keyFile');
    writeFileSync(
      join(dir, 'tls.cfg'),
      `[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\ncertificate = ${o.tls.certFile}\nprivate_key = ${o.tls.keyFile}\n\n[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n`,
    );
  }
  const cfg = join(dir, 'kamailio.cfg');
  writeFileSync(cfg, buildConfig(o, dir));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last resort so a crashed test run never leaves a registrar bound to the test addresses.
    process.on('exit', () => {
      for (const p of live) killGroup(p, 'SIGKILL');
    });
  }
  // -DD: stay in the foreground as our child but keep worker processes; -E: log to stderr.
  // Own process group: Kamailio forks workers that hold the TCP connections, so "the registrar
  // dies" means signalling the whole group, and no orphaned worker may keep the ports bound.
  const proc = spawn(KAMAILIO_BIN, ['-f', cfg, '-P', join(dir, 'kamailio.pid'), '-Y', dir, '-w', dir, '-DD', '-E', '-m', '64', '-M', '8'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(proc);
  let log = '';
  proc.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.once('exit', () => live.delete(proc));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (proc.exitCode === null && proc.signalCode === null) {
      killGroup(proc, 'SIGTERM');
      const t = setTimeout(() => killGroup(proc, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    } else {
      killGroup(proc, 'SIGKILL'); // the main process is gone; make sure no worker survived it
    }
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + (o.startTimeoutMs ?? 15000);
    for (const l of o.listen) await waitForPort(l.address, l.port, deadline, proc);
  } catch (err) {
    const out = log;
    await stop();
    throw new Error(`${(err as Error).message}\n--- kamailio output ---\n${out.slice(-4000)}`);
  }
  return {
    pid: proc.pid!,
    dir,
    stop,
    kill: (signal: NodeJS.Signals = 'SIGKILL') => killGroup(proc, signal),
    logs: () => log,
    async contacts() {
      const { stdout } = await execFileP(KAMCMD_BIN, ['-s', `unix:${join(dir, 'kamailio_ctl')}`, 'ul.dump'], { timeout: 5000 });
      return [...stdout.matchAll(/^\s*Address:\s*(\S+)\s*$/gm)].map((m) => m[1]!);
    },
  };
}
