/**
 * A real Kamailio 5.6 registrar + presence server + RLS + XCAP server for tests, on a loopback
 * address of its own (default 127.0.60.1, TCP). Config generated here; facts from the shared
 * Kamailio presence recipe (pitfall numbers below refer to it).
 *
 * Packages: kamailio kamailio-presence-modules kamailio-sqlite-modules sqlite3.
 *
 *   const peer = await startKamailioPresence();   // in before()
 *   ...                                            // SIP over TCP to peer.address:peer.port
 *   await peer.stop();                             // in after(); safe to call twice
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, writeFile, rm, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';

export const KAMAILIO = '/usr/sbin/kamailio';
export const SQLITE3 = '/usr/bin/sqlite3';
const MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules';
const SQLITE_SCHEMA = '/usr/share/kamailio/db_sqlite';
const DBTEXT_SCHEMA = '/usr/share/kamailio/dbtext/kamailio';

/** Digest users (MD5, realm = From domain). Test fixtures only. */
export const PRESENCE_USERS = { alice: 'wonderland', bob: 'builder', carol: 'cheshire' } as const;

/** The fixed roaming-contacts answer ([MS-SIP] 3.7.5.2 shape, as the recipe served it). */
export function defaultContactList(domain: string): string {
  return (
    `<contactList deltaNum="7"><group id="1" name="~" externalURI=""/><group id="2" name="Team" externalURI=""/>` +
    `<contact uri="bob@${domain}" name="Bob Builder" groups="1 2" subscribed="true" externalURI=""/>` +
    `<contact uri="carol@${domain}" name="" groups="1" subscribed="true" externalURI=""/></contactList>`
  );
}

export interface KamailioPresenceOptions {
  /** Loopback address to listen on (TCP). Default 127.0.60.1. */
  address?: string;
  port?: number;
  /** SIP domain (alias of the server). Default acme.test. */
  domain?: string;
  /** REGISTER 200 carries Lync's Allow-Events / Supported (msrtc-event-categories, adhoclist). Default true. */
  lync?: boolean;
  /** Body of the roaming-contacts 200. Default defaultContactList(domain). */
  contactList?: string;
  /** Bound on start-up (process up and answering SIP). Default 15000 ms. */
  startTimeoutMs?: number;
}

export interface KamailioPresencePeer {
  address: string;
  port: number;
  domain: string;
  /** HTTP path prefix of the XCAP server (served on the SIP port). */
  xcapRoot: string;
  /** The list URIs alice's rls-services document defines. */
  listUris: { buddies: string; self: string };
  contactList: string;
  runDir: string;
  /** Everything Kamailio wrote to stderr so far (for assertion messages). */
  logs(): string;
  stop(): Promise<void>;
}

function resourceLists(domain: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list name="buddies">` +
    `<entry uri="sip:bob@${domain}"><display-name>Bob Builder</display-name></entry>` +
    `<entry uri="sip:carol@${domain}"><display-name>Carol</display-name></entry></list></resource-lists>`
  );
}

function rlsServices(domain: string): string {
  // Two services: an RFC 4662 list URI, and the own AoR so a Lync-style batched SUBSCRIBE to
  // oneself is answered by RLS as well (recipe §3).
  const service = (uri: string): string =>
    `<service uri="${uri}"><list name="buddies"><rl:entry uri="sip:bob@${domain}"/><rl:entry uri="sip:carol@${domain}"/></list>` +
    `<packages><package>presence</package></packages></service>`;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<rls-services xmlns="urn:ietf:params:xml:ns:rls-services" xmlns:rl="urn:ietf:params:xml:ns:resource-lists">` +
    service(`sip:alice-buddies@${domain}`) +
    service(`sip:alice@${domain}`) +
    `</rls-services>`
  );
}

/** A Kamailio script string literal; `$` would be read as a pseudo-variable, so it is refused. */
function cfgString(s: string): string {
  if (/[$\\\r\n]/.test(s)) throw new Error('kamailio-presence: config strings must not contain $, backslash or line breaks');
  return `"${s.replace(/"/g, '\\"')}"`;
}

export function kamailioPresenceConfig(o: { address: string; port: number; domain: string; runDir: string; lync: boolean; contactList: string }): string {
  const db = `sqlite:///${path.join(o.runDir, 'kamailio.db')}`; // four slashes: absolute path (pitfall 2)
  const dbtext = `text://${path.join(o.runDir, 'dbtext')}`;
  const me = `${o.address}:${o.port};transport=tcp`;
  const users = Object.entries(PRESENCE_USERS)
    .map(([u, p], i) => `${i ? '    else ' : '    '}if ($fU == "${u}") $var(pw) = "${p}";`)
    .join('\n');
  const lyncHeaders = o.lync
    ? `        append_to_reply("Allow-Events: presence, vnd-microsoft-roaming-contacts, vnd-microsoft-roaming-self\\r\\nSupported: msrtc-event-categories, adhoclist\\r\\n");\n`
    : '';
  return `#!KAMAILIO
# Generated by test/helpers/kamailio-presence.ts -- test peer, loopback only.
debug=2
log_stderror=yes
log_facility=LOG_LOCAL0
children=2
tcp_children=4
auto_aliases=no
listen=tcp:${o.address}:${o.port}
alias=${o.domain}
# pua/rls back-end requests must leave from the listening address, else they are challenged (pitfall 3).
tcp_source_ipv4=${o.address}
# XCAP HTTP requests on the SIP port carry no Content-Length on GET.
tcp_accept_no_cl=yes
mpath="${MODULES}/"

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "sanity.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "db_sqlite.so"
loadmodule "db_text.so"
loadmodule "xhttp.so"
loadmodule "presence.so"
loadmodule "presence_xml.so"
loadmodule "pua.so"
loadmodule "rls.so"
loadmodule "xcap_server.so"

modparam("usrloc", "db_mode", 0)
# The database is created in WAL mode (prepareDatabase): WAL avoids "database is locked" between
# the presence workers (pitfall 6). Setting it here instead (db_set_journal_mode) made every worker
# switch the mode as it started, and two switching at once failed the start ("database is locked").
modparam("presence", "db_url", "${db}")
modparam("presence", "server_address", "sip:${me}")
modparam("presence", "subs_db_mode", 0)
modparam("presence", "publ_cache", 1)
modparam("presence_xml", "db_url", "${db}")
# No pres-rules documents: every watcher active, else NOTIFYs stay pending and empty (pitfall 5).
modparam("presence_xml", "force_active", 1)
modparam("presence_xml", "integrated_xcap_server", 1)
modparam("pua", "db_url", "${db}")
modparam("pua", "db_mode", 0)
# rls on db_sqlite crashes (no affected_rows/replace in db_sqlite 5.6.3): its own tables in db_text (pitfall 1).
modparam("rls", "db_url", "${dbtext}")
modparam("rls", "xcap_db_url", "${db}")
modparam("rls", "xcap_table", "xcap")
modparam("rls", "integrated_xcap_server", 1)
modparam("rls", "to_presence_code", 10)
modparam("rls", "server_address", "sip:rls@${me}")
modparam("rls", "outbound_proxy", "sip:${me}")
modparam("rls", "waitn_time", 1)
modparam("xcap_server", "db_url", "${db}")
modparam("xcap_server", "buf_size", 8192)

request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (!sanity_check()) exit;
    if (is_method("ACK")) {
        t_check_trans();
        exit;
    }
    route(AUTH);
    if (is_method("REGISTER")) {
${lyncHeaders}        if (!save("location")) sl_reply_error();
        exit;
    }
    if (is_method("SUBSCRIBE")) {
        if ($hdr(Event) =~ "^vnd-microsoft-roaming-contacts") {
            route(MS_ROAMING_CONTACTS);
            exit;
        }
        if ($hdr(Event) =~ "^vnd-microsoft-roaming-self") {
            route(MS_ROAMING_SELF);
            exit;
        }
        t_newtran();
        $var(rc) = rls_handle_subscribe();
        if ($var(rc) == 10) handle_subscribe();
        t_release();
        exit;
    }
    if (is_method("PUBLISH")) {
        t_newtran();
        handle_publish();
        t_release();
        exit;
    }
    if (is_method("NOTIFY")) {
        # back-end NOTIFYs from presence to sip:rls@... (the list's resources)
        t_newtran();
        rls_handle_notify();
        t_release();
        exit;
    }
    if (is_method("SERVICE")) {
        # Lync category publish: accepted, not turned into presence (recipe §7).
        sl_send_reply("200", "OK");
        exit;
    }
    sl_send_reply("501", "Not Implemented");
    exit;
}

route[AUTH] {
    # Kamailio's own pua/rls traffic is not challenged.
    if ($si == "${o.address}") return;
    $var(pw) = "";
${users}
    if ($var(pw) == "" || !pv_www_authenticate("$fd", "$var(pw)", "0")) {
        # "0": no qop in the challenge (RFC 2617 §3.2.1 makes it optional).
        www_challenge("$fd", "0");
        exit;
    }
    if ($au != $fU) {
        sl_send_reply("403", "Auth user is not the From user");
        exit;
    }
    consume_credentials();
}

route[MS_ROAMING_CONTACTS] {
    # The first notification piggybacked on the 200 ([MS-SIP] 3.4.5.1); sipe needs ms-piggyback-cseq to read it.
    append_to_reply("Contact: <sip:${me}>\\r\\nEvent: vnd-microsoft-roaming-contacts\\r\\nSubscription-State: active;expires=3600\\r\\nExpires: 3600\\r\\nms-piggyback-cseq: 1\\r\\nSupported: ms-piggyback-first-notify, com.microsoft.autoextend\\r\\n");
    set_reply_body(${cfgString(o.contactList)}, "application/vnd-microsoft-roaming-contacts+xml");
    sl_send_reply("200", "OK");
}

route[MS_ROAMING_SELF] {
    append_to_reply("Contact: <sip:${me}>\\r\\nEvent: vnd-microsoft-roaming-self\\r\\nSubscription-State: active;expires=3600\\r\\nExpires: 3600\\r\\nms-piggyback-cseq: 1\\r\\n");
    # Empty own publications (root <roamingData> UNCONFIRMED, recipe §2.2): publish with version 0.
    set_reply_body(${cfgString('<roamingData xmlns="http://schemas.microsoft.com/2006/09/sip/roaming-self"><categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories"/><containers/><subscribers/></roamingData>')}, "application/vnd-microsoft-roaming-self+xml");
    sl_send_reply("200", "OK");
}

event_route[xhttp:request] {
    # XCAP (RFC 4825) without authentication: test peer only (pitfall 9).
    if ($hu =~ "^/xcap-root/" && $rm == "GET") {
        $xcapuri(u=>data) = $hu;
        $var(xuid) = $xcapuri(u=>xuid);
        if (!($var(xuid) =~ "^sips?:")) $var(xuid) = "sip:" + $var(xuid);
        xcaps_get("$var(xuid)", "$hu");
        exit;
    }
    xhttp_reply("404", "Not Found", "text/plain", "not here\\n");
}
`;
}

function run(cmd: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = execFile(cmd, args, { timeout: 10_000 }, (err, _out, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message} ${stderr}`)) : resolve()));
    p.stdin?.end(input);
  });
}

const sqlQuote = (s: string): string => `'${s.replace(/'/g, "''")}'`;

async function prepareDatabase(runDir: string, domain: string, port: number): Promise<void> {
  const schema = ['standard', 'presence', 'rls'].map((n) => readFileSync(path.join(SQLITE_SCHEMA, `${n}-create.sql`), 'utf8')).join('\n');
  // XCAP rows: doc_type 4 = resource-lists, 8 = rls-services (xcap_client/xcap_callbacks.h). doc_uri is
  // the path xcap_server computes for GET; rls matches only username/domain/doc_type (recipe §3).
  const row = (docType: number, auid: string, doc: string, etag: string): string =>
    `INSERT INTO xcap (username, domain, doc, doc_type, etag, source, doc_uri, port) VALUES ('alice', ${sqlQuote(domain)}, ${sqlQuote(doc)}, ${docType}, ${sqlQuote(etag)}, 1, ` +
    `${sqlQuote(`/xcap-root/${auid}/users/sip:alice@${domain}/index`)}, ${port});`;
  // WAL is a property of the database file: set once here, before any worker connects.
  const sql = `PRAGMA journal_mode=WAL;\n${schema}\n${row(4, 'resource-lists', resourceLists(domain), 'rl-1')}\n${row(8, 'rls-services', rlsServices(domain), 'rs-1')}\n`;
  await run(SQLITE3, [path.join(runDir, 'kamailio.db')], sql);
  const dbtext = path.join(runDir, 'dbtext');
  await mkdir(dbtext);
  // db_text tables: the shipped headers for rls_watchers/rls_presentity plus a version table naming them.
  for (const t of ['rls_watchers', 'rls_presentity']) await copyFile(path.join(DBTEXT_SCHEMA, t), path.join(dbtext, t));
  const versions = readFileSync(path.join(DBTEXT_SCHEMA, 'version'), 'utf8').split('\n');
  const keep = versions.filter((l, i) => i === 0 || /^\d+:(version|rls_watchers|rls_presentity):/.test(l));
  await writeFile(path.join(dbtext, 'version'), keep.join('\n') + '\n');
}

/** Waits until Kamailio answers a SIP request on TCP (any response means the workers are up). */
async function waitForSip(address: string, port: number, deadline: number, exited: () => string | undefined): Promise<void> {
  let lastErr = 'no answer';
  while (Date.now() < deadline) {
    const gone = exited();
    if (gone !== undefined) throw new Error(`kamailio exited during start-up (${gone})`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: address, port });
      const done = (v: boolean): void => {
        clearTimeout(t);
        s.destroy();
        resolve(v);
      };
      const t = setTimeout(() => done(false), 1000);
      s.on('error', (e) => {
        lastErr = e.message;
        done(false);
      });
      s.on('connect', () => {
        const branch = `z9hG4bK-probe${Date.now()}`;
        s.write(
          `OPTIONS sip:${address}:${port};transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=${branch}\r\nMax-Forwards: 5\r\n` +
            `From: <sip:probe@invalid>;tag=p\r\nTo: <sip:${address}>\r\nCall-ID: probe-${branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
        );
      });
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        if (buf.startsWith('SIP/2.0 ')) done(true);
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`kamailio did not answer SIP on ${address}:${port}: ${lastErr}`);
}

export async function startKamailioPresence(opts: KamailioPresenceOptions = {}): Promise<KamailioPresencePeer> {
  // A missing server is a broken test environment: fail loudly, never skip.
  for (const f of [KAMAILIO, SQLITE3, path.join(MODULES, 'rls.so'), path.join(MODULES, 'db_sqlite.so'), path.join(SQLITE_SCHEMA, 'rls-create.sql'), path.join(DBTEXT_SCHEMA, 'rls_watchers')]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: install kamailio kamailio-presence-modules kamailio-sqlite-modules sqlite3`);
  }
  const address = opts.address ?? '127.0.60.1';
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)) throw new Error('kamailio-presence: loopback (127/8) addresses only');
  const port = opts.port ?? 5060;
  const domain = opts.domain ?? 'acme.test';
  const contactList = opts.contactList ?? defaultContactList(domain);
  const runDir = await mkdtemp(path.join(tmpdir(), 'siplogon-kam-pres-'));
  let proc: ChildProcess | undefined;
  let stderr = '';
  let exitInfo: string | undefined;
  const stop = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      // Its workers form the process group we created (detached): end them too if the main one hung.
      if (p.exitCode === null && p.signalCode === null && p.pid !== undefined) {
        try {
          process.kill(-p.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
        await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
      }
    }
    await rm(runDir, { recursive: true, force: true });
  };
  try {
    await prepareDatabase(runDir, domain, port);
    const cfg = path.join(runDir, 'kamailio.cfg');
    await writeFile(cfg, kamailioPresenceConfig({ address, port, domain, runDir, lync: opts.lync ?? true, contactList }));
    // -DD: stay in the foreground (children still forked) so the test owns the process; -w: core files stay in runDir (pitfall 8).
    proc = spawn(KAMAILIO, ['-f', cfg, '-DD', '-E', '-Y', runDir, '-w', runDir], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    proc.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 4_000_000) stderr += d.toString();
    });
    proc.once('exit', (code, sig) => (exitInfo = `code ${code}, signal ${sig}`));
    proc.once('error', (e) => (exitInfo = e.message));
    await waitForSip(address, port, Date.now() + (opts.startTimeoutMs ?? 15_000), () => exitInfo);
  } catch (e) {
    const log = stderr.split('\n').filter((l) => /ERROR|CRITICAL|error/.test(l)).slice(-15).join('\n');
    await stop();
    throw new Error(`${(e as Error).message}\n--- kamailio log (errors) ---\n${log}`);
  }
  return {
    address,
    port,
    domain,
    xcapRoot: '/xcap-root',
    listUris: { buddies: `sip:alice-buddies@${domain}`, self: `sip:alice@${domain}` },
    contactList,
    runDir,
    logs: () => stderr,
    stop,
  };
}
