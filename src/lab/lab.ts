/**
 * The embedded lab: a loopback-only miniature of a Lync site, in-process, for the README demo
 * and fast tests. acme.test has a director that redirects every REGISTER to the user's home pool
 * (pool1) and backup pool (pool2); pools authenticate with digest, answer in-band provisioning and
 * MRAS. DNS publishes the seed's SRV names; the DHCP responder answers DHCPINFORM with options
 * 120 and 43. Faults can be switched on to show what a diagnosis says about each.
 *
 * Real-peer tests (Kamailio, dnsmasq) remain the reference; this lab is a convenience.
 */
import { startDnsServer, type LabDnsServer, type LabZone } from './dns-server.js';
import { startDhcpResponder, type DhcpResponder } from './dhcp-responder.js';
import { startLabRegistrar, type LabRegistrar } from './registrar.js';
import { createLabCa, type LabCa } from './certs.js';
import type { SignInOptions } from '../engine/options.js';
import type { PresenceState } from '../presence/state.js';
import { defaultRoster, type LabPresenceFlavour, type LabRoster } from './presence-server.js';

export type LabFault = 'none' | 'dns-down' | 'dhcp-silent' | 'registrar-down' | 'registrar-silent' | 'wrong-certificate' | 'bad-password' | 'provisioning-refused';

export interface LabOptions {
  domain?: string;
  user?: string;
  /** The demo user's password (lab only). */
  password?: string;
  /** First three octets of the loopback addresses; default a random 127.x.y network. */
  net?: string;
  /**
   * Presence the pools serve and advertise in the REGISTER 200: 'lync' (Supported:
   * msrtc-event-categories → roaming contacts, category publish, batched SUBSCRIBE) or 'simple'
   * (PUBLISH, an RLS list URI). @defaultValue 'lync'
   */
  presenceFlavour?: LabPresenceFlavour;
  /**
   * More accounts (user part → password) every registrar accepts besides `user`, e.g. the lines
   * of a gateway (the registrars keep one binding per AoR, so N lines need N users).
   */
  users?: Record<string, string>;
}

export interface Lab {
  domain: string;
  user: string;
  password: string;
  ca: LabCa;
  dns: LabDnsServer;
  dhcp: DhcpResponder;
  director: LabRegistrar;
  pool1: LabRegistrar;
  pool2: LabRegistrar;
  addresses: Record<string, string>;
  presenceFlavour: LabPresenceFlavour;
  /** The contacts every pool starts with (bob available, carol away); see setContactPresence. */
  roster: LabRoster;
  /** The RLS list URI standing for the roster (SIMPLE); signInOptions() passes it when SIMPLE. */
  listUri: string;
  /** Changes a contact's state on every pool; watchers get a NOTIFY. */
  setContactPresence(uri: string, state: PresenceState, note?: string): void;
  /** signIn()/diagnose() options that point at this lab (add the password). */
  signInOptions(extra?: Partial<SignInOptions>): SignInOptions;
  /** Switch a fault on (and every other off). Registrar faults hit every registrar unless `only` names one. */
  setFault(f: LabFault, only?: 'director' | 'pool1' | 'pool2'): Promise<void>;
  stop(): Promise<void>;
}

export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const domain = opts.domain ?? 'acme.test';
  const user = opts.user ?? `sip:alice@${domain}`;
  const password = opts.password ?? 'wonderland';
  const net = opts.net ?? `127.${77 + Math.floor(Math.random() * 100)}.${1 + Math.floor(Math.random() * 250)}`;
  const addresses: Record<string, string> = {
    dns: `${net}.53`,
    dhcp: `${net}.67`,
    [`director.${domain}`]: `${net}.10`,
    [`pool1.${domain}`]: `${net}.11`,
    [`pool2.${domain}`]: `${net}.12`,
    [`edge1.${domain}`]: `${net}.21`,
    [`edge2.${domain}`]: `${net}.22`,
  };
  const addr = (name: string): string => addresses[name] as string;
  const ca = await createLabCa();
  const users = { ...opts.users, [user.replace(/^sip:/, '').split('@')[0] as string]: password };
  const mrasUri = `sip:mras.pool1.${domain}@${domain};gruu;opaque=srvr:MRAS:lab`;
  const relays = [`edge1.${domain}`, `edge2.${domain}`];
  const presenceFlavour = opts.presenceFlavour ?? 'lync';
  const roster = defaultRoster(domain);
  const listUri = `sip:${user.replace(/^sip:/, '').split('@')[0] ?? 'user'}-buddies@${domain}`;
  const presence = { flavour: presenceFlavour, roster, listUri };

  const started: { stop(): Promise<void> }[] = [];
  try {
    const pool1 = await startLabRegistrar({
      name: `pool1.${domain}`, address: addr(`pool1.${domain}`), domain, users, ca,
      mrasUri, relays, presence,
    });
    started.push(pool1);
    const pool2 = await startLabRegistrar({
      name: `pool2.${domain}`, address: addr(`pool2.${domain}`), domain, users, ca,
      mrasUri, relays, presence,
    });
    started.push(pool2);
    const director = await startLabRegistrar({
      name: `director.${domain}`, address: addr(`director.${domain}`), domain, users, ca,
      redirectTo: [`sip:pool1.${domain}:5061;transport=tls`, `sip:pool2.${domain}:5061;transport=tls`],
    });
    started.push(director);

    const zone: LabZone = {
      domains: [domain],
      srv: {
        [`_sipinternaltls._tcp.${domain}`]: [{ target: `director.${domain}`, port: 5061, priority: 0, weight: 0 }],
        [`_sipinternal._tcp.${domain}`]: [{ target: `director.${domain}`, port: 5060, priority: 0, weight: 0 }],
        [`_sip._tls.${domain}`]: [{ target: `director.${domain}`, port: 5061, priority: 0, weight: 0 }],
      },
      a: Object.fromEntries(Object.entries(addresses).filter(([k]) => k.includes('.')).map(([k, v]) => [k, [v]])),
    };
    const dns = await startDnsServer({ address: addr('dns'), port: 0, zone });
    started.push(dns);
    const dhcp = await startDhcpResponder({
      address: addr('dhcp'),
      port: 0,
      sipServers: { encoding: 'fqdn', names: [`director.${domain}`] },
      msUcClient: { ucIdentifier: 'MS-UC-Client', urlScheme: 'https', webServerFqdn: `web.${domain}`, webServerPort: '443', certProvPath: '/CertProv/CertProvisioningService.svc' },
    });
    started.push(dhcp);

    const lab: Lab = {
      domain, user, password, ca, dns, dhcp, director, pool1, pool2, addresses, presenceFlavour, roster, listUri,
      signInOptions(extra = {}) {
        const { presence: p, ...rest } = extra;
        return {
          user,
          password,
          dnsServers: [dns.server],
          dhcp: { server: dhcp.address, serverPort: dhcp.port, clientPort: 0, timeoutMs: 3000, initialIntervalMs: 1000 },
          ca: ca.cert,
          dnsTimeoutMs: 1500,
          connectTimeoutMs: 2000,
          tlsHandshakeTimeoutMs: 2000,
          transactionTimeoutMs: 4000,
          networkWatchIntervalMs: 0,
          // SIMPLE has no server-side contact list without a list URI; Lync brings its own.
          presence: p === false ? false : presenceFlavour === 'simple' ? { listUri, ...p } : { ...p },
          ...rest,
        };
      },
      async setFault(f, only) {
        dns.setFault(f === 'dns-down' ? 'down' : 'none');
        dhcp.setFault(f === 'dhcp-silent' ? 'silent' : 'none');
        const registrarFault = f === 'registrar-down' ? 'down' : f === 'registrar-silent' ? 'silent' : f === 'wrong-certificate' || f === 'bad-password' || f === 'provisioning-refused' ? f : 'none';
        const all = { director, pool1, pool2 };
        for (const [name, r] of Object.entries(all)) await r.setFault(!only || only === name ? registrarFault : 'none');
      },
      setContactPresence(uri, state, note) {
        for (const r of [pool1, pool2]) r.presence?.setBuddy(uri, state, note);
      },
      async stop() {
        await Promise.allSettled(started.map((s) => s.stop()));
      },
    };
    return lab;
  } catch (e) {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw e;
  }
}
