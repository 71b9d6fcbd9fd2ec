/**
 * Presentations of the step record: one-line summaries (CLI checklist), a text report and a
 * self-contained HTML page. Everything shown comes from the record, which never holds secrets.
 */
import type { StepRecord } from '../engine/steps.js';
import type { DiagnosisReport } from './diagnose.js';
import { connectionLabel, formatTraceEntry } from '../sip/trace.js';
import { unpublished } from './advice.js';

const MARK: Record<StepRecord['status'], string> = { running: '…', pass: '✔', fail: '✖', skipped: '–' };

function list(v: unknown): string {
  return Array.isArray(v) ? v.map(String).join(', ') : String(v ?? '');
}

/** Short facts per step kind for a one-line summary. */
export function stepSummary(s: StepRecord): string {
  const d = s.detail;
  switch (s.kind) {
    case 'dns-srv': {
      const recs = Array.isArray(d['records']) ? (d['records'] as { target: string; port: number; priority: number; weight: number }[]) : [];
      return recs.length ? recs.map((r) => `${r.target}:${r.port} (prio ${r.priority}, weight ${r.weight})`).join(', ') : String(d['outcome'] ?? '');
    }
    case 'dns-host':
      return Array.isArray(d['addresses']) && d['addresses'].length ? list(d['addresses']) : `A ${String(d['a'] ?? '?')}, AAAA ${String(d['aaaa'] ?? '?')}`;
    case 'dhcp-inform': {
      const sip = d['sipServers'] as { names?: string[]; addresses?: string[] } | undefined;
      if (sip) return `option 120: ${list(sip.names ?? sip.addresses)}${d['msUcClient'] ? `; option 43: ${JSON.stringify(d['msUcClient'])}` : ''}`;
      return String(d['outcome'] ?? '');
    }
    case 'candidates': {
      const c = Array.isArray(d['candidates']) ? (d['candidates'] as { fqdn: string; port: number; transport: string; step: number | null; source: string }[]) : [];
      return c.map((x) => `${x.step ? `#${x.step} ` : ''}${x.fqdn}:${x.port}/${x.transport}`).join(' › ') || 'none';
    }
    case 'tls-handshake': {
      const t = (d['tls'] ?? {}) as { protocol?: string; subjectAltNames?: string[]; issuer?: string };
      return [t.protocol, t.subjectAltNames?.length ? `SAN ${t.subjectAltNames.join(', ')}` : '', t.issuer ? `issuer ${t.issuer}` : ''].filter(Boolean).join('; ');
    }
    case 'register':
    case 'authenticate':
    case 'challenge':
      return [d['status'], d['scheme'], d['algorithm'], d['expires'] !== undefined ? `expires ${String(d['expires'])}` : ''].filter((x) => x !== undefined && x !== '').join(' ');
    case 'redirect':
      return Array.isArray(d['contacts']) ? (d['contacts'] as { fqdn: string; port: number; transport: string }[]).map((c) => `${c.fqdn}:${c.port}/${c.transport}`).join(', ') : '';
    case 'provisioning':
      return d['mrasUri'] ? `mrasUri ${String(d['mrasUri'])}` : String(d['status'] ?? '');
    case 'media-relay':
      return Array.isArray(d['relays']) ? (d['relays'] as { hostName: string; addresses: string[] }[]).map((r) => `${r.hostName} (${r.addresses.join(', ') || 'unresolved'})`).join(', ') : '';
    default:
      return '';
  }
}

export { unpublished };

function facts(s: StepRecord): string {
  if (unpublished(s)) return `not published (${String(s.detail['outcome']).toUpperCase()})`;
  return s.status === 'fail' ? `${s.error?.code ?? ''}: ${s.error?.message ?? ''}` : s.status === 'skipped' ? (s.reason ?? '') : stepSummary(s);
}

/** One checklist line; `#id` is the number the summary's "Failed step" cites (steps end out of order). */
export function stepLine(s: StepRecord): string {
  const lat = s.latencyMs !== undefined ? `${s.latencyMs < 10 ? s.latencyMs.toFixed(1) : Math.round(s.latencyMs)} ms` : '';
  const f = facts(s);
  return `${unpublished(s) ? '·' : MARK[s.status]} #${s.id} ${s.title}${lat ? `  [${lat}]` : ''}${f ? `  ${f}` : ''}`;
}

/**
 * Discovery steps that failed although the sign-in worked (DHCP silent, a resolver timing out):
 * other devices may depend on them, so the summary says so.
 */
export function noticed(r: Pick<DiagnosisReport, 'steps' | 'finding'>): StepRecord[] {
  const discovery = new Set<StepRecord['kind']>(['dhcp-inform', 'dns-srv', 'dns-host', 'cache-load']);
  return r.steps.filter((s) => s.status === 'fail' && discovery.has(s.kind) && !unpublished(s) && s.id !== r.finding?.stepId);
}

/** First line of the text report; the CLI prints it before the run, when only the options are known. */
export function renderHeader(r: Pick<DiagnosisReport, 'user' | 'mode' | 'targetFqdn'>): string {
  return `siplogon diagnose — ${r.user} (${r.mode === 'target-fqdn' ? `target ${r.targetFqdn ?? ''}, DHCP bypassed` : 'discovery via DHCP and DNS'})`;
}

/** The outcome block that follows the step lines. */
export function renderSummary(r: DiagnosisReport): string {
  const out: string[] = [];
  out.push(`Result      : ${r.result === 'pass' ? 'Success' : 'Failure'}`);
  if (r.registrar) out.push(`Registrar   : ${r.registrar.fqdn}:${r.registrar.port}/${r.registrar.transport} (${r.registrar.address}, via ${r.registrar.via})`);
  out.push(`Latency     : ${r.durationMs} ms`);
  if (r.finding) {
    out.push(`Failed step : #${r.finding.stepId} ${r.steps.find((s) => s.id === r.finding?.stepId)?.title ?? r.finding.kind} (${r.finding.code})`);
    out.push(`Diagnosis   : ${r.finding.diagnosis}`);
    out.push(`Fix         : ${r.finding.fix}`);
    out.push(`Device shows: "${r.finding.deviceMessage}"`);
  } else if (r.error) {
    out.push(`Error       : ${r.error.code}: ${r.error.message}`);
  }
  if (r.result === 'pass') {
    for (const s of noticed(r)) out.push(`Noticed     : #${s.id} ${s.title} failed (${s.error?.code ?? '?'}): devices that depend on it would not get this far`);
  }
  return out.join('\n') + '\n';
}

export function renderText(r: DiagnosisReport): string {
  return [renderHeader(r), ...r.steps.map((s) => `  ${stepLine(s)}`), '', renderSummary(r)].join('\n');
}

/** The redacted SIP trace as text (CLI --trace); "" when the report has none. */
export function renderTrace(r: DiagnosisReport): string {
  if (!r.trace) return '';
  const t = r.trace;
  const out = [`SIP trace (${t.entries.length} message${t.entries.length === 1 ? '' : 's'}, secrets redacted; → sent, ← received, ms since start):`];
  for (const e of t.entries) out.push(formatTraceEntry(e), '');
  if (t.entries.length === 0) out.push('  (no SIP message was exchanged)', '');
  if (t.omitted > 0) out.push(`… ${t.omitted} more message${t.omitted === 1 ? '' : 's'} not kept`, '');
  return out.join('\n');
}

function traceHtml(r: DiagnosisReport): string {
  if (!r.trace) return '';
  const e = escapeHtml;
  const items = r.trace.entries
    .map((x) => {
      const head = `${x.direction === 'out' ? '→' : '←'} ${x.atMs.toFixed(1)} ms ${x.direction === 'out' ? 'to' : 'from'} ${connectionLabel(x.connection)}`;
      const msg = [x.startLine, ...x.headers.map((h) => `${h.name}: ${h.value}`), ...(x.body ? ['', x.body] : []), ...(x.bodyOmittedBytes > 0 ? [`… ${x.bodyOmittedBytes} bytes more`] : [])].join('\n');
      return `<div class="sip ${x.direction}"><div class="sip-head">${e(head)}</div><pre>${e(msg)}</pre></div>`;
    })
    .join('\n');
  const omitted = r.trace.omitted > 0 ? `<p>… ${r.trace.omitted} more messages not kept</p>` : '';
  return `<details id="sip-trace"><summary>SIP trace (${r.trace.entries.length} messages, secrets redacted)</summary>
${items || '<p>No SIP message was exchanged.</p>'}
${omitted}</details>
`;
}

function noticedHtml(r: DiagnosisReport): string {
  const n = noticed(r);
  if (n.length === 0) return '';
  const items = n.map((s) => `<li>Step ${s.id}: ${escapeHtml(s.title)} failed (${escapeHtml(s.error?.code ?? '?')}) — devices that depend on it would not get this far.</li>`).join('');
  return `<p><b>Noticed.</b></p><ul class="noticed">${items}</ul>`;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

export function renderHtml(r: DiagnosisReport): string {
  const e = escapeHtml;
  const rows = r.steps
    .map((s) => {
      const failing = r.finding?.stepId === s.id;
      const status = unpublished(s) ? 'not published' : s.status;
      return `<tr class="${unpublished(s) ? 'info' : s.status}${failing ? ' decisive' : ''}"${failing ? ' id="failing-step"' : ''}><td>${s.id}</td><td class="st">${e(status)}</td><td>${e(s.title)}</td><td>${e(s.target ?? '')}</td><td class="num">${s.latencyMs !== undefined ? e(String(s.latencyMs)) : ''}</td><td class="facts">${e(facts(s))}</td></tr>`;
    })
    .join('\n');
  const finding = r.finding
    ? `<section class="finding" id="finding"><h2>Sign-in failed at step ${r.finding.stepId}: ${e(r.steps.find((s) => s.id === r.finding?.stepId)?.title ?? r.finding.kind)}</h2>
<p><b>Diagnosis.</b> ${e(r.finding.diagnosis)}</p><p><b>Fix.</b> ${e(r.finding.fix)}</p><p><b>The device shows</b> “${e(r.finding.deviceMessage)}”</p><p class="code">${e(r.finding.code)}</p></section>`
    : `<section class="ok" id="finding"><h2>Signed in to ${e(r.registrar ? `${r.registrar.fqdn}:${r.registrar.port}/${r.registrar.transport}` : '?')}</h2><p>Have the user sign in again: the registrar, authentication and provisioning all worked.</p>${noticedHtml(r)}</section>`;
  const data = e(JSON.stringify(r, null, 2));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>siplogon diagnosis — ${e(r.user)} — ${r.result === 'pass' ? 'Success' : 'Failure'}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1b1f24;max-width:1100px}
h1{font-size:1.4em;margin:0 0 .2em} .meta{color:#555;margin-bottom:1.2em}
.badge{display:inline-block;padding:.1em .6em;border-radius:.3em;color:#fff;font-weight:600}
.badge.pass{background:#1f7a3a}.badge.fail{background:#b42318}
table{border-collapse:collapse;width:100%;margin-top:1em} td,th{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top}
tr.fail td.st{color:#b42318;font-weight:600} tr.pass td.st{color:#1f7a3a} tr.skipped td,tr.info td{color:#777} td.facts{overflow-wrap:anywhere;word-break:break-word}
tr.decisive{background:#fdecea} .num{text-align:right;white-space:nowrap}
.finding{border-left:4px solid #b42318;background:#fdecea;padding:.6em 1em;margin:1em 0}
.ok{border-left:4px solid #1f7a3a;background:#e8f5ec;padding:.6em 1em;margin:1em 0}
.code{font-family:ui-monospace,monospace;color:#555} details{margin-top:1.5em} pre{white-space:pre-wrap;font-size:12px}
.sip{margin:.6em 0;border-left:3px solid #8aa} .sip.in{border-color:#a88} .sip-head{font-weight:600;padding-left:.5em} .sip pre{margin:.2em 0 0 .5em}
</style></head><body>
<h1>siplogon diagnosis <span class="badge ${r.result}">${r.result === 'pass' ? 'Success' : 'Failure'}</span></h1>
<div class="meta">User <b>${e(r.user)}</b> · ${r.mode === 'target-fqdn' ? `target FQDN <b>${e(r.targetFqdn ?? '')}</b> (DHCP bypassed)` : 'discovery via DHCP and DNS'} · started ${e(r.startedAt)} · ${r.durationMs} ms · siplogon ${e(r.tool.version)}</div>
${finding}
<table><thead><tr><th>#</th><th>Status</th><th>Step</th><th>Target</th><th class="num">ms</th><th>Detail</th></tr></thead>
<tbody>
${rows}
</tbody></table>
${traceHtml(r)}<details><summary>Raw report (JSON)</summary><pre>${data}</pre></details>
</body></html>
`;
}
