/**
 * Client runners: siplogon (its CLI), baresip 1.0 and linphonec 5.1, each started inside the
 * namespace per run and stopped after. Peers get a 60 s registration interval (Kamailio's
 * min_expires is lowered to 10 s) so their refresh-driven recovery fits inside the bound —
 * a setting that favours them.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Netns } from './netns.js';
import { startBackground, type Background } from './proc.js';

export type ClientName = 'siplogon' | 'baresip' | 'linphone';
export const CLIENTS: readonly ClientName[] = ['siplogon', 'baresip', 'linphone'];

export interface ClientContext {
  ns: Netns;
  dir: string;
  user: string;
  domain: string;
  password: string;
  dnsAddr: string;
  dnsPort: number;
  /** Registration interval asked for by the peers, seconds. */
  peerExpires: number;
  /** Path of siplogon's compiled CLI entry point. */
  siplogonMain: string;
  /** Extra sign-in arguments (e.g. --stagger 100), appended after the fixed ones. */
  siplogonArgs?: string[];
}

export interface ClientRunner {
  name: ClientName;
  /** Throws with an install hint when the binary is missing (never skip silently). */
  check(ctx: Pick<ClientContext, 'siplogonMain'>): void;
  start(ctx: ClientContext): Background;
}

function need(path: string, hint: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: ${hint}`);
}

const siplogon: ClientRunner = {
  name: 'siplogon',
  check(ctx) {
    need(ctx.siplogonMain, 'run `npm run build` (or pass --siplogon-main)');
  },
  start(ctx) {
    const [c, a] = ctx.ns.exec(process.execPath, [
      ctx.siplogonMain,
      'sign-in',
      '--user',
      `sip:${ctx.user}@${ctx.domain}`,
      '--password-env',
      'PW',
      '--dns',
      `${ctx.dnsAddr}:${ctx.dnsPort}`,
      '--no-cache',
      '--json',
      ...(ctx.siplogonArgs ?? []),
    ]);
    // The password goes through the environment only, never argv (visible in ps).
    return startBackground(c, a, { logFile: join(ctx.dir, 'siplogon.ndjson'), env: { ...process.env, PW: ctx.password } });
  },
};

export function baresipFiles(ctx: Pick<ClientContext, 'user' | 'domain' | 'password' | 'dnsAddr' | 'dnsPort' | 'peerExpires'>): {
  config: string;
  accounts: string;
} {
  return {
    // net_interface must be an address here: in a loopback-only namespace `lo` yields
    // "could not get network address".
    config: [
      'poll_method\t\tepoll',
      'sip_listen\t\t127.0.0.1:0',
      'net_interface\t\t127.0.0.1',
      `dns_server\t\t${ctx.dnsAddr}:${ctx.dnsPort}`,
      'audio_player\t\taufile,/dev/null',
      'audio_source\t\taufile,/dev/null',
      'module_path\t\t/usr/lib/baresip/modules',
      'module_app\t\taccount.so',
      '',
    ].join('\n'),
    accounts: `<sip:${ctx.user}@${ctx.domain};transport=tcp>;auth_pass=${ctx.password};regint=${ctx.peerExpires}\n`,
  };
}

const baresip: ClientRunner = {
  name: 'baresip',
  check() {
    need('/usr/bin/baresip', 'apt-get install baresip-core');
  },
  start(ctx) {
    const conf = join(ctx.dir, 'baresip');
    mkdirSync(conf, { recursive: true, mode: 0o700 });
    const f = baresipFiles(ctx);
    writeFileSync(join(conf, 'config'), f.config, { mode: 0o600 });
    writeFileSync(join(conf, 'accounts'), f.accounts, { mode: 0o600 });
    writeFileSync(join(conf, 'contacts'), '', { mode: 0o600 });
    const [c, a] = ctx.ns.exec('/usr/bin/baresip', ['-4', '-f', conf]);
    return startBackground(c, a, { logFile: join(ctx.dir, 'baresip.log'), env: { ...process.env, HOME: ctx.dir }, stdinPipe: true });
  },
};

export function linphoneConfig(ctx: Pick<ClientContext, 'user' | 'domain' | 'password' | 'peerExpires'>): string {
  // Measured here (5.1.65): with auto_net_state_mon=0 the core opens its listening points but
  // never registers (it waits for the app to call linphone_core_set_network_reachable(), which
  // linphonec does not). The default monitor is kept; Netns gives it a route so it stays UP.
  // Fixed ports are safe: the namespace is private to this run.
  return `[sip]
sip_port=5064
sip_tcp_port=5062
default_proxy=0

[video]
enabled=0
display=0
capture=0

[proxy_0]
reg_proxy=<sip:${ctx.domain};transport=tcp>
reg_identity=sip:${ctx.user}@${ctx.domain}
reg_expires=${ctx.peerExpires}
reg_sendregister=1
publish=0

[auth_info_0]
username=${ctx.user}
passwd=${ctx.password}
realm=${ctx.domain}
domain=${ctx.domain}
`;
}

const linphone: ClientRunner = {
  name: 'linphone',
  check() {
    need('/usr/bin/linphonec', 'apt-get install linphone-cli');
  },
  start(ctx) {
    const file = join(ctx.dir, 'linphonerc');
    // Without its database directory liblinphone logs errors and stays idle.
    mkdirSync(join(ctx.dir, '.local', 'share', 'linphone'), { recursive: true, mode: 0o700 });
    writeFileSync(file, linphoneConfig(ctx), { mode: 0o600 });
    // stdin stays an open pipe: linphonec reads commands from it and quits on EOF.
    const [c, a] = ctx.ns.exec('/usr/bin/linphonec', ['-c', file, '-d', process.env.SLB_LINPHONE_DEBUG ?? '0']);
    return startBackground(c, a, { logFile: join(ctx.dir, 'linphone.log'), env: { ...process.env, HOME: ctx.dir }, stdinPipe: true });
  },
};

export const RUNNERS: Record<ClientName, ClientRunner> = { siplogon, baresip, linphone };

export function parseClientList(list: string | undefined): ClientName[] {
  if (list === undefined || list === '' || list === 'all') return [...CLIENTS];
  const out: ClientName[] = [];
  for (const raw of list.split(',')) {
    const n = raw.trim() === 'linphonec' ? 'linphone' : raw.trim();
    if (!(CLIENTS as readonly string[]).includes(n)) throw new Error(`unknown client "${raw}" (valid: ${CLIENTS.join(', ')})`);
    if (!out.includes(n as ClientName)) out.push(n as ClientName);
  }
  return out;
}
