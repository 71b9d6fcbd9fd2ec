/** Public API of siplogon. */
export * from './errors.js';
export * from './core/index.js';
export { CacheStore, defaultCachePath, osCacheDir, safeCacheName, parseCacheRecord, CacheValidationError, CACHE_LIMITS, CACHE_VERSION } from './cache/store.js';
export type { CacheStoreOptions, CachePathEnv } from './cache/store.js';
export { watchNetwork, snapshotAddresses, diffAddresses } from './engine/network-watch.js';
export type { NetworkWatcher, WatchNetworkOptions, LocalAddress, AddressDiff, InterfaceTable, InterfaceReader } from './engine/network-watch.js';

// SIP layer
export * from './sip/message.js';
export { SipStreamFramer, type Frame } from './sip/framing.js';
export { connectSip, SipConnection, tlsInfoOf, type ConnectTarget, type ConnectOptions, type ConnectionInfo, type TlsInfo } from './sip/connection.js';
export { SipClient, newBranch, newCallId, newTag, DEFAULT_TIMER_F_MS, T1_MS, type SipClientOptions, type RequestOptions, type IncomingAnswer, type TraceDirection } from './sip/transaction.js';
export * from './sip/digest.js';
export { Registration, parseRedirectContacts, requestWithAuth, type RegisterOutcome, type RedirectContact, type RegistrationOptions } from './sip/register.js';
export { registerAt, defaultResolve, type RegistrarTarget, type RegisterAtOptions, type SignOnHop, type SignOnResult, type ResolveHook } from './sip/sign-on.js';

// Presence after sign-in (issue 8)
export * from './presence/index.js';
export { PresenceAgent, chooseFlavour, type PresenceFlavour, type OwnPresence, type ContactsEvent, type ContactPresence, type PresenceErrorContext, type PresenceAgentEvents, type PresenceAgentOptions } from './presence/agent.js';
