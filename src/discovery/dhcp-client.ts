import type { DhcpInformResult } from '../core/types.js';

export interface DhcpInformOptions {
  /** Local IPv4 address to send from (ciaddr); picks the interface. */
  localAddress?: string;
  /** Interface name; its IPv4 address becomes localAddress. */
  interface?: string;
  /** Where the INFORM goes. Default 255.255.255.255 (broadcast). */
  server?: string;
  serverPort?: number; // default 67
  clientPort?: number; // default 68 (needs root)
  vendorClass?: string; // default 'MS-UC-Client'
  /** Overall bound for the whole exchange including retransmissions. Default 8000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** DHCPINFORM asking for options 120 and 43. CONTRACT — implemented by the DHCP work item. */
export async function informDhcp(options: DhcpInformOptions): Promise<DhcpInformResult> {
  void options;
  throw new Error('informDhcp: not implemented');
}
