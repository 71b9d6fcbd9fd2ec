import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Option, type Command } from 'commander';
import { SiplogonError, UsageError } from '../../errors.js';
import { collect, readPassword } from '../common.js';
import type { SignOnResult } from '../../sip/sign-on.js';

interface RegisterCliOptions {
  registrar: string;
  transport: 'tls' | 'tcp';
  user: string;
  passwordEnv: string;
  ca?: string;
  resolve: string[];
  timeout: string;
  expires: string;
  allowDomain: string[];
  json?: boolean;
}

function parseHostPort(text: string, transport: 'tls' | 'tcp'): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(text);
  const port = m?.[2] === undefined ? (transport === 'tls' ? 5061 : 5060) : Number(m[2]);
  if (!m || port < 1 || port > 65535) throw new UsageError('INVALID_OPTION', `--registrar must be HOST[:PORT], got ${JSON.stringify(text)}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

function parseResolve(entries: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const e of entries) {
    const i = e.indexOf(':');
    const name = e.slice(0, i).toLowerCase();
    const addr = e.slice(i + 1);
    if (i <= 0 || !net.isIP(addr)) throw new UsageError('INVALID_OPTION', `--resolve must be NAME:ADDRESS, got ${JSON.stringify(e)}`);
    map.set(name, addr);
  }
  return map;
}

function positiveInt(v: string, what: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1) throw new UsageError('INVALID_OPTION', `${what} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

export function addRegisterCommand(program: Command): void {
  program
    .command('register')
    .description('REGISTER one user at one registrar (follows 301/302), print the outcome, un-REGISTER and exit')
    .requiredOption('--registrar <host[:port]>', 'registrar FQDN (checked against its TLS certificate) or address')
    .addOption(new Option('--transport <t>', 'transport').choices(['tls', 'tcp']).default('tls'))
    .requiredOption('--user <aor>', 'address of record, e.g. sip:alice@example.test')
    .requiredOption('--password-env <VAR>', 'environment variable holding the password (never pass it on the command line)')
    .option('--ca <file>', 'PEM CA bundle to trust instead of the system roots')
    .option('--resolve <name:address>', 'map a name to an address (repeatable), like curl --resolve', collect, [] as string[])
    .option('--timeout <ms>', 'connect / TLS / transaction timeout in ms', '10000')
    .option('--expires <s>', 'requested registration lifetime in seconds', '600')
    .option('--allow-domain <domain>', 'accept redirects to registrars in this domain too (repeatable; default: the AoR\'s domain only)', collect, [] as string[])
    .option('--json', 'print a JSON object instead of text')
    .action(async (o: RegisterCliOptions) => {
      const started = performance.now();
      let result: SignOnResult | undefined;
      try {
        // Loaded on demand so that `--help` and the other commands do not load the SIP stack.
        const [{ parseUri }, { defaultResolve, registerAt }] = await Promise.all([import('../../sip/message.js'), import('../../sip/sign-on.js')]);
        let usage: { host: string; port: number; map: Map<string, string>; ca?: Buffer; timeout: number; expires: number; password: string };
        try {
          const { host, port } = parseHostPort(o.registrar, o.transport);
          if (!parseUri(o.user).user) throw new UsageError('INVALID_URI', `--user must be an AoR with a user part, got ${JSON.stringify(o.user)}`);
          const password = readPassword(o.passwordEnv);
          usage = { host, port, map: parseResolve(o.resolve), timeout: positiveInt(o.timeout, '--timeout'), expires: positiveInt(o.expires, '--expires'), password };
          if (o.ca) {
            try {
              usage.ca = readFileSync(o.ca);
            } catch (err) {
              throw new UsageError('INVALID_OPTION', `cannot read --ca ${o.ca}: ${(err as Error).message}`);
            }
          }
        } catch (err) {
          report(o, err);
          process.exitCode = 2;
          return;
        }
        const { host, port, map, ca, timeout, expires, password } = usage;
        result = await registerAt(
          { host, port, transport: o.transport },
          {
            registration: { aor: o.user, password: () => password, expires },
            connect: { connectTimeoutMs: timeout, ...(ca ? { ca } : {}) },
            client: { timerFMs: timeout },
            resolve: async (name) => map.get(name.toLowerCase()) ?? defaultResolve(name),
            allowedDomains: o.allowDomain,
          },
        );
        const last = result.hops.at(-1)!;
        const tookMs = Math.round(performance.now() - started);
        const out = {
          ok: true,
          registrar: `${last.host}:${last.port}`,
          address: last.address,
          transport: last.transport,
          expires: result.outcome.expires,
          tookMs,
          redirects: result.hops.filter((h) => h.redirect).map((h) => ({ from: `${h.host}:${h.port}`, status: h.redirect!.status, contacts: h.redirect!.contacts })),
          ...(last.tls ? { tls: { protocol: last.tls.protocol, subjectAltNames: last.tls.subjectAltNames, issuer: last.tls.issuer } } : {}),
        };
        // The command registers once and leaves no binding behind; say whether that worked.
        let unregister: { ok: true } | { ok: false; code: string; message: string };
        try {
          await result.registration.unregister();
          unregister = { ok: true };
        } catch (err) {
          unregister = { ok: false, code: SiplogonError.is(err) ? err.code : 'ERROR', message: err instanceof Error ? err.message : String(err) };
        }
        if (o.json) process.stdout.write(JSON.stringify({ ...out, unregistered: unregister.ok, ...(unregister.ok ? {} : { unregisterError: { code: unregister.code, message: unregister.message } }) }) + '\n');
        else {
          for (const r of out.redirects) process.stdout.write(`redirected by ${r.from} (${r.status}) to ${r.contacts.map((c) => c.uri).join(', ')}\n`);
          process.stdout.write(`registered ${o.user} at ${out.registrar} (${out.address}) over ${out.transport.toUpperCase()}, expires ${out.expires} s, took ${tookMs} ms\n`);
          process.stdout.write(unregister.ok ? 'un-REGISTERed: binding removed\n' : `un-REGISTER failed (${unregister.code}: ${unregister.message}); the binding expires in ${out.expires} s\n`);
        }
        process.exitCode = 0;
      } catch (err) {
        report(o, err);
        process.exitCode = 1;
      } finally {
        result?.registration.close();
        result?.connection.close();
      }
    });
}

function report(o: { json?: boolean }, err: unknown): void {
  const e = SiplogonError.is(err) ? err : undefined;
  const code = e?.code ?? 'ERROR';
  const message = err instanceof Error ? err.message : String(err);
  if (o.json) process.stdout.write(JSON.stringify({ ok: false, code, message, details: e?.details ?? {}, error: { code, message } }) + '\n');
  const hint = code === 'TLS_UNTRUSTED' ? ' (pass the issuing CA with --ca FILE)' : '';
  process.stderr.write(`siplogon register: ${code}: ${message}${hint}\n`);
}
