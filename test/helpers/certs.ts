/**
 * Test PKI made at test time with the openssl CLI: a CA and server certificates carrying the
 * given names in subjectAltName. Files live in a caller-owned temp directory.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertFiles {
  certFile: string;
  keyFile: string;
  /** PEM text of the certificate. */
  cert: string;
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

export function makeCa(dir: string, name = 'siplogon test CA'): CertFiles {
  const base = join(dir, name.replace(/[^A-Za-z0-9]+/g, '-'));
  const keyFile = `${base}.key`;
  const certFile = `${base}.crt`;
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8') };
}

/**
 * Server certificate signed by `ca` with DNS SANs `names` (first one also the CN).
 * `expired`: notAfter one day before issue (openssl -days -1), so verification says CERT_HAS_EXPIRED.
 */
export function makeServerCert(dir: string, ca: CertFiles, names: string[], opts: { ips?: string[]; expired?: boolean } = {}): CertFiles {
  const base = join(dir, `srv-${names[0]!.replace(/[^A-Za-z0-9]+/g, '-')}${opts.expired ? '-expired' : ''}`);
  const keyFile = `${base}.key`;
  const csr = `${base}.csr`;
  const certFile = `${base}.crt`;
  const ext = `${base}.ext`;
  const san = [...names.map((n) => `DNS:${n}`), ...(opts.ips ?? []).map((i) => `IP:${i}`)].join(',');
  writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${san}\n`);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${names[0]}`]);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', certFile, '-days', opts.expired ? '-1' : '2', '-extfile', ext]);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8') };
}
