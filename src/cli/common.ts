/**
 * Options shared by the sign-in, diagnose and discover commands, turned into library options.
 * The password is only ever read from an environment variable (never argv, which `ps` shows).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Option, type Command } from 'commander';
import type { SignInOptions } from '../engine/options.js';
import { UsageError } from '../errors.js';

export interface CommonFlags {
  user: string;
  passwordEnv?: string;
  targetFqdn?: string;
  targetPort?: string;
  transport?: string;
  dns?: string[];
  dhcpInterface?: string;
  dhcpServer?: string;
  dhcpTimeout?: string;
  dnsTimeout?: string;
  cache?: string;
  noCache?: boolean;
  ca?: string;
  insecure?: boolean;
  resolve?: string[];
  allowDomain?: string[];
  timeout?: string;
  stagger?: string;
  expires?: string;
}

/** commander accumulator for repeatable options. */
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function addConnectionOptions(cmd: Command, opts: { password: boolean; target: boolean; cache: boolean }): Command {
  cmd.requiredOption('-u, --user <aor>', 'SIP address of record, e.g. sip:alice@acme.test');
  if (opts.password) cmd.requiredOption('--password-env <VAR>', 'name of the environment variable that holds the password');
  if (opts.target) {
    cmd.option('--target-fqdn <fqdn>', 'registrar FQDN to sign in to; bypasses DHCP and DNS SRV discovery');
    cmd.option('--target-port <port>', 'registrar port with --target-fqdn (default 5061 TLS / 5060 TCP)');
    cmd.addOption(new Option('--transport <t>', 'transport with --target-fqdn').choices(['tls', 'tcp']).default('tls'));
  }
  cmd.option('--dns <host:port>', 'DNS server to ask (repeatable; default: the system resolver)', collect);
  cmd.option('--dhcp-interface <if>', 'send DHCPINFORM on this interface (needs root; off by default)');
  cmd.option('--dhcp-server <host:port>', 'send DHCPINFORM to this server instead of broadcasting (lab, relays)');
  cmd.option('--dhcp-timeout <ms>', 'DHCP answer bound in milliseconds', '8000');
  cmd.option('--dns-timeout <ms>', 'per DNS query bound in milliseconds, retransmissions included', '2000');
  cmd.option('--resolve <name:address>', 'use this address for a name, like curl --resolve (repeatable)', collect);
  cmd.option('--allow-domain <domain>', 'accept registrars in this domain besides the SIP domain (repeatable)', collect);
  cmd.option('--ca <file>', 'PEM CA bundle to verify registrar certificates with');
  cmd.option('--insecure', 'do not verify TLS certificates (lab use only)');
  cmd.option('--timeout <ms>', 'connect / TLS / transaction bound in milliseconds (default 5000 / 5000 / 32000; diagnose: SIP transactions 8000)');
  cmd.option('--stagger <ms>', 'delay before racing the next candidate (RFC 8305 style)', '250');
  if (opts.cache) {
    cmd.option('--cache <file>', 'cache file (default: the OS cache directory)');
    cmd.option('--no-cache', 'do not read or write the cache');
  }
  return cmd;
}

function num(name: string, v: string | undefined, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || v.trim() === '') {
    throw new UsageError('INVALID_OPTION', `${name} must be a number ≥ ${min}, got "${v}"`);
  }
  return n;
}

export function parseHostPort(v: string): { host: string; port: number | undefined } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(v) ?? /^([^:]+)(?::(\d+))?$/.exec(v);
  if (!m || !m[1]) throw new UsageError('INVALID_OPTION', `expected HOST[:PORT], got "${v}"`);
  return { host: m[1], port: m[2] ? Number(m[2]) : undefined };
}

export function parseResolve(list: string[] | undefined): Record<string, string[]> {
  const hosts: Record<string, string[]> = {};
  for (const item of list ?? []) {
    const i = item.indexOf(':');
    const name = item.slice(0, i).toLowerCase();
    const addr = item.slice(i + 1);
    if (i <= 0 || !isIP(addr)) throw new UsageError('INVALID_OPTION', `--resolve expects NAME:ADDRESS, got "${item}"`);
    (hosts[name] ??= []).push(addr);
  }
  return hosts;
}

export function readPassword(envName: string | undefined): string {
  if (!envName) throw new UsageError('INVALID_OPTION', '--password-env is required');
  const v = process.env[envName];
  if (v === undefined) throw new UsageError('INVALID_OPTION', `environment variable ${envName} is not set (it must hold the password)`);
  if (v === '') throw new UsageError('INVALID_OPTION', `environment variable ${envName} is empty (it must hold the password)`);
  return v;
}

export function toSignInOptions(f: CommonFlags, password: string | undefined): SignInOptions {
  const timeout = num('--timeout', f.timeout, 1);
  const opts: SignInOptions = {
    user: f.user,
    password: password ?? '',
    hosts: parseResolve(f.resolve),
    staggerMs: num('--stagger', f.stagger) ?? 250,
    dnsTimeoutMs: num('--dns-timeout', f.dnsTimeout, 1) ?? 2000,
  };
  if (f.targetFqdn) {
    opts.targetFqdn = f.targetFqdn;
    const p = num('--target-port', f.targetPort, 1);
    if (p !== undefined) opts.targetPort = p;
    opts.targetTransport = f.transport === 'tcp' ? 'tcp' : 'tls';
  }
  if (f.dns?.length) opts.dnsServers = f.dns;
  if (f.dhcpInterface || f.dhcpServer) {
    const dhcp: NonNullable<Exclude<SignInOptions['dhcp'], false>> = { timeoutMs: num('--dhcp-timeout', f.dhcpTimeout, 1) ?? 8000 };
    if (f.dhcpInterface) dhcp.interface = f.dhcpInterface;
    if (f.dhcpServer) {
      const { host, port } = parseHostPort(f.dhcpServer);
      dhcp.server = host;
      dhcp.serverPort = port ?? 67;
      dhcp.clientPort = 0;
      dhcp.initialIntervalMs = 1000;
    }
    opts.dhcp = dhcp;
  }
  if (f.allowDomain?.length) opts.policy = { allowedDomains: f.allowDomain };
  if (f.ca) {
    try {
      opts.ca = readFileSync(f.ca, 'utf8');
    } catch (e) {
      throw new UsageError('INVALID_OPTION', `cannot read --ca ${f.ca}: ${(e as Error).message}`);
    }
  }
  if (f.insecure) opts.verifyTls = false;
  if (timeout !== undefined) {
    opts.connectTimeoutMs = timeout;
    opts.tlsHandshakeTimeoutMs = timeout;
    opts.transactionTimeoutMs = timeout;
  }
  if (f.noCache === true || (f as { cache?: unknown }).cache === false) opts.cache = false;
  else if (typeof f.cache === 'string') opts.cache = { path: f.cache };
  return opts;
}

/** Prints a one-line error and sets the documented exit code (2 usage, 1 failure). */
/** The JSON a failed command prints on stdout under --json (one line). */
export function jsonError(kind: 'document' | 'ndjson', code: string, message: string): string {
  return JSON.stringify(kind === 'ndjson' ? { event: 'error', code, message } : { ok: false, error: { code, message } }) + '\n';
}

/**
 * One line on stderr; with --json also a JSON document on stdout, so a script parsing stdout
 * always gets one: `{"ok":false,"error":{code,message}}`, or for sign-in's NDJSON stream an
 * `{"event":"error",code,message}` line.
 */
export function reportError(command: string, err: unknown, json: 'document' | 'ndjson' | false = false): void {
  const e = err as { code?: string; message?: string };
  const usage = e.code === 'INVALID_OPTION' || e.code === 'INVALID_URI';
  const code = e.code ?? 'ERROR';
  const message = e.message ?? String(err);
  if (json) process.stdout.write(jsonError(json, code, message));
  process.stderr.write(`siplogon ${command}: ${e.code ? `${e.code}: ` : ''}${message}\n`);
  process.exitCode = usage ? 2 : 1;
}
