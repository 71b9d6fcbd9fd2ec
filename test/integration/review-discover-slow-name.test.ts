// Review finding: `siplogon discover` after progressive discovery. When the best-ranked SRV target
// is still resolving when a lower one has resolved, runDiscovery returns an empty prefix and the
// rest as `later`. discover printed only the prefix ("none") and closed its DNS client under the
// names still resolving, whose `later` promises then rejected unhandled.
// A small UDP DNS server on 127.0.31.20 black-holes A/AAAA of the better name.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as dnsPacket from 'dns-packet';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const sock = createSocket('udp4');
after(() => new Promise<void>((r) => sock.close(() => r())));

async function startDns(): Promise<string> {
  await new Promise<void>((res) => sock.bind(0, '127.0.31.20', () => res()));
  sock.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions?.[0];
    if (!question) return;
    const name = question.name.toLowerCase();
    if (name === 'slow.slow.test') return; // black hole
    const answers: dnsPacket.Answer[] = [];
    const additionals: dnsPacket.Answer[] = [];
    if (name === '_sipinternaltls._tcp.slow.test' && question.type === 'SRV') {
      answers.push({ name, type: 'SRV', ttl: 60, data: { target: 'slow.slow.test', port: 5061, priority: 0, weight: 0 } });
    }
    if (name === '_sipinternal._tcp.slow.test' && question.type === 'SRV') {
      answers.push({ name, type: 'SRV', ttl: 60, data: { target: 'fast.slow.test', port: 5060, priority: 0, weight: 0 } });
      additionals.push({ name: 'fast.slow.test', type: 'A', ttl: 60, data: '127.0.31.21' });
    }
    const rcode = answers.length ? 'NOERROR' : 'NXDOMAIN';
    const flags = dnsPacket.AUTHORITATIVE_ANSWER | (rcode === 'NXDOMAIN' ? 3 : 0);
    sock.send(dnsPacket.encode({ type: 'response', id: q.id, flags, questions: q.questions, answers, additionals }), rinfo.port, rinfo.address);
  });
  return `127.0.31.20:${sock.address().port}`;
}

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

test('discover --json lists a resolved candidate ranked below a name still resolving, exits 0 with valid JSON and no crash', async () => {
  const dns = await startDns();
  const r = await run(['discover', 'sip:alice@slow.test', '--dns', dns, '--dns-timeout', '1500', '--json'], 20_000);
  assert.doesNotMatch(r.stderr, /Unhandled|ABORTED|at .*\.js:\d+/, `crashed: ${r.stderr}`);
  assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}; stdout: ${r.stdout}`);
  const out = JSON.parse(r.stdout) as { candidates: { fqdn: string; addresses: string[] }[] };
  assert.deepEqual(
    out.candidates.map((c) => [c.fqdn, c.addresses]),
    [['fast.slow.test', ['127.0.31.21']]],
  );
});
