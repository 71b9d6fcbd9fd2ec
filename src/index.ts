/** Public API of siplogon: signIn() → a session with events, diagnose() → a report. */
export { signIn, SignInSession, type Registered, type RegistrarInfo, type SessionEvents, type SessionState, type RunOptions } from './engine/session.js';
export { resolveOptions, parseAor, type SignInOptions, type ResolvedOptions, type PasswordSource, type PresenceOptions } from './engine/options.js';
export { StepRecorder, type StepRecord, type StepKind, type StepStatus, type StepListener } from './engine/steps.js';
export { diagnose, type DiagnosisReport, type DiagnoseOptions } from './diagnose/diagnose.js';
export { explain, decisiveStep, DEVICE_MESSAGE_UNREACHABLE, type Finding } from './diagnose/advice.js';
export { renderText, renderHtml, unpublished } from './diagnose/render.js';
export { startLab, type Lab, type LabFault, type LabOptions } from './lab/lab.js';
export { Secret } from './secret.js';
export { DnsCache, type DnsCacheOptions, type DnsCacheStats } from './discovery/dns-cache.js';
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
export { SipClient, newBranch, newCallId, newTag, DEFAULT_TIMER_F_MS, T1_MS, type SipClientOptions, type RequestOptions, type IncomingAnswer } from './sip/transaction.js';
export { redactMessage, redactHeaderValue, redactAuthValue, redactBody, REDACTED, type SipTraceEntry, type SipTraceHook, type SipTraceConnection } from './sip/trace.js';
export * from './sip/digest.js';
export { Registration, parseRedirectContacts, requestWithAuth, type RegisterOutcome, type RedirectContact, type RegistrationOptions } from './sip/register.js';
export { registerAt, defaultResolve, type RegistrarTarget, type RegisterAtOptions, type SignOnHop, type SignOnResult, type ResolveHook } from './sip/sign-on.js';

// Presence after sign-in (issue 8)
export * from './presence/index.js';
export { PresenceAgent, chooseFlavour, type PresenceFlavour, type OwnPresence, type ContactsEvent, type ContactPresence, type PresenceErrorContext, type PresenceAgentEvents, type PresenceAgentOptions } from './presence/agent.js';
