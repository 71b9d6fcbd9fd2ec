/** Host-name helpers shared by the core (pure, no I/O). */

/** Lower-case, without the trailing root dot: the form every comparison in the core uses. */
export function normalizeName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/**
 * Why `name` is not a usable host name, or null when it is. RFC 1035 §2.3.4 (253 octets, labels
 * of 1..63), RFC 1123 §2.1 LDH labels; an all-numeric last label is refused (RFC 3696 §2) so an
 * IP literal can never pose as an SRV target (RFC 2782: the Target is a domain name).
 */
export function hostNameProblem(name: string): string | null {
  const n = normalizeName(name);
  if (n.length === 0) return 'empty host name';
  if (n.length > 253) return `host name longer than 253 characters (${n.length})`;
  const labels = n.split('.');
  for (const l of labels) {
    if (l.length === 0) return 'empty label in host name';
    if (l.length > 63) return `label longer than 63 characters ("${l.slice(0, 20)}…")`;
    if (!LABEL.test(l)) return `invalid characters in label "${l.slice(0, 63)}"`;
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return 'all-numeric top-level label (an address, not a name)';
  return null;
}

/** True when `name` equals `domain` or is a subdomain of it (label boundary, case-insensitive). */
export function isWithinDomain(name: string, domain: string): boolean {
  const n = normalizeName(name);
  const d = normalizeName(domain);
  return d.length > 0 && (n === d || n.endsWith(`.${d}`));
}

/** IPv6 literal test good enough to tell families apart (addresses come from resolvers/DHCP). */
export function isIpv6(address: string): boolean {
  return address.includes(':');
}

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
export function isIpv4(address: string): boolean {
  return V4.test(address);
}
