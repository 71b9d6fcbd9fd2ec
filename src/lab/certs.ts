/**
 * In-process certificate authority for the lab: a CA and server certificates with the names the
 * lab's registrars must prove, generated at start so the demo needs nothing installed (no openssl).
 */
// selfsigned (node-forge, @peculiar/*) costs ~90 ms to load: only the lab needs it, so it is
// loaded when a lab starts, not by every `import 'siplogon'`.
const generate: typeof import('selfsigned').generate = async (...args) => (await import('selfsigned')).generate(...args);

export interface Pem {
  cert: string;
  key: string;
}

export interface LabCa extends Pem {
  /** A server certificate signed by this CA, naming `names` in subjectAltName (dNSName). */
  issue(names: string[], opts?: { validDays?: number; notBefore?: Date }): Promise<Pem>;
}

export async function createLabCa(commonName = 'siplogon lab CA'): Promise<LabCa> {
  const notAfter = new Date(Date.now() + 365 * 86400_000);
  const ca = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const pem: Pem = { cert: ca.cert, key: ca.private };
  return {
    ...pem,
    async issue(names, opts = {}) {
      const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
      const leaf = await generate([{ name: 'commonName', value: names[0] ?? 'localhost' }], {
        keyType: 'ec',
        algorithm: 'sha256',
        notBeforeDate: notBefore,
        notAfterDate: new Date(notBefore.getTime() + (opts.validDays ?? 30) * 86400_000),
        ca: { key: pem.key, cert: pem.cert },
        extensions: [
          { name: 'basicConstraints', cA: false },
          { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
          { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
          { name: 'subjectAltName', altNames: names.map((value) => ({ type: 2, value })) },
        ],
      });
      return { cert: leaf.cert, key: leaf.private };
    },
  };
}
