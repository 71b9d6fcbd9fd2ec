import type { DnsQueryResult } from '../core/types.js';

export interface DnsClientOptions {
  /** "host:port" or "host" (port 53); IPv6 as "[::1]:53". Default: the system's resolv.conf servers. */
  servers?: string[];
  /** Per-query bound, all retransmissions included. Default 2000 ms. */
  timeoutMs?: number;
}

/** DNS client over UDP (TCP on truncation). CONTRACT — implemented by the DNS work item. */
export class DnsClient {
  constructor(readonly options: DnsClientOptions = {}) {}
  async query(name: string, type: 'SRV' | 'A' | 'AAAA', signal?: AbortSignal): Promise<DnsQueryResult> {
    void name; void type; void signal;
    throw new Error('DnsClient.query: not implemented');
  }
  close(): void {}
}
