/**
 * RLMI, RFC 4662 §5: the root part of an RLS NOTIFY, and the subscriber-side list state that
 * merges full and partial notifications by version.
 */
import { attr, get, guard, isObj, list, malformed, parseXml, text, uint, xsBool } from '../xml.js';
import { parseMultipartRelated, partByCid, type MultipartRelated } from './multipart.js';
import { parsePidf, type PidfDocument } from './pidf.js';
import { parseCategories, type CategoriesDocument } from './categories.js';
import { mostAvailable, pidfBasicToState, type PresenceState } from './state.js';

export const RLMI_CONTENT_TYPE = 'application/rlmi+xml';

/** RFC 4662 §5.2 states, plus Lync's "resubscribe" ([MS-PRES] via sipe: re-send to poolFqdn). */
export type InstanceState = 'active' | 'pending' | 'terminated' | 'resubscribe';

export interface RlmiInstance {
  id: string;
  state: InstanceState;
  /** Content-ID of the part holding this instance's state (absent: no state in this notification). */
  cid?: string;
  reason?: string;
  /** Lync: the pool to re-send a batched SUBSCRIBE to when state is "resubscribe". */
  poolFqdn?: string;
}

export interface RlmiResource {
  uri: string;
  name?: string;
  instances: RlmiInstance[];
}

export interface RlmiList {
  uri: string;
  version: number;
  fullState: boolean;
  name?: string;
  resources: RlmiResource[];
}

const STATES: readonly string[] = ['active', 'pending', 'terminated', 'resubscribe'];
const MAX_RESOURCES = 10_000;

export function parseRlmi(body: string): RlmiList {
  return guard('RLMI', () => {
    const doc = parseXml(body, 'RLMI', ['list.resource', 'list.resource.instance', 'list.name', 'list.resource.name']);
    const root = get(doc, 'list');
    const l = root === '' ? {} : root;
    if (!isObj(l)) throw malformed('RLMI', 'no <list> root');
    const uri = attr(l, 'uri');
    if (!uri) throw malformed('RLMI', '<list> has no uri');
    const version = uint(attr(l, 'version'));
    if (version === undefined) throw malformed('RLMI', '<list> version is not a non-negative integer');
    const fullState = xsBool(attr(l, 'fullState'));
    if (fullState === undefined) throw malformed('RLMI', '<list> fullState is not a boolean');
    const resources: RlmiResource[] = [];
    const rs = list(get(l, 'resource'));
    if (rs.length > MAX_RESOURCES) throw malformed('RLMI', `more than ${MAX_RESOURCES} resources`);
    for (const r of rs) {
      const ruri = attr(r, 'uri');
      if (!ruri) throw malformed('RLMI', '<resource> has no uri');
      const res: RlmiResource = { uri: ruri, instances: [] };
      const name = firstName(get(r, 'name'));
      if (name !== undefined) res.name = name;
      for (const i of list(get(r, 'instance'))) {
        const id = attr(i, 'id');
        const state = attr(i, 'state');
        if (!id) throw malformed('RLMI', `<instance> of ${ruri} has no id`);
        if (state === undefined || !STATES.includes(state)) throw malformed('RLMI', `<instance> ${id} has state ${JSON.stringify(state ?? null)}`);
        const inst: RlmiInstance = { id, state: state as InstanceState };
        const cid = attr(i, 'cid');
        if (cid) inst.cid = cid;
        const reason = attr(i, 'reason');
        if (reason) inst.reason = reason;
        const pool = attr(i, 'poolFqdn');
        if (pool) inst.poolFqdn = pool;
        res.instances.push(inst);
      }
      resources.push(res);
    }
    const out: RlmiList = { uri, version, fullState, resources };
    const lname = firstName(get(l, 'name'));
    if (lname !== undefined) out.name = lname;
    return out;
  });
}

function firstName(v: unknown): string | undefined {
  for (const n of Array.isArray(v) ? v : v === undefined ? [] : [v]) {
    const t = text(n);
    if (t !== undefined) return t;
  }
  return undefined;
}

/** State carried by a part: PIDF (standard RLS) or msrtc-event-categories (Lync). */
export type InstanceDocument = { kind: 'pidf'; pidf: PidfDocument; state: PresenceState } | { kind: 'categories'; categories: CategoriesDocument; state: PresenceState };

export interface TrackedInstance extends RlmiInstance {
  document?: InstanceDocument;
}

export interface TrackedResource {
  uri: string;
  name?: string;
  instances: TrackedInstance[];
  /** The most available state among the instances' documents ('unknown' with none). */
  state: PresenceState;
}

export type ApplyOutcome =
  | { applied: true; fullState: boolean; version: number; changed: string[]; gap: boolean }
  | { applied: false; reason: 'duplicate' | 'stale' | 'wrong-list'; version: number };

function documentOf(m: Pick<MultipartRelated, 'parts'>, cid: string | undefined): InstanceDocument | undefined {
  if (cid === undefined) return undefined;
  const part = partByCid(m, cid);
  // RFC 4662 §5.2: cid names a part of the same notification; without it this notification carries no state for the instance.
  if (!part) return undefined;
  if (part.contentType === 'application/pidf+xml') {
    const pidf = parsePidf(part.body);
    return { kind: 'pidf', pidf, state: pidfBasicToState(pidf.overall) };
  }
  if (part.contentType === 'application/msrtc-event-categories+xml') {
    const categories = parseCategories(part.body);
    return { kind: 'categories', categories, state: categories.state };
  }
  return undefined; // a type we do not read (e.g. text/xml+msrtc.pidf): keep the instance, no state
}

/**
 * Subscriber-side view of one RLS subscription (RFC 4662 §5.2 version/fullState rules):
 * - a full-state notification with a newer version replaces everything;
 * - a partial one merges: listed resources/instances are updated, "terminated" instances removed,
 *   unlisted ones kept;
 * - a version not newer than the last one is ignored (duplicate/reordered);
 * - a partial notification that skips versions, or arrives before any full state, means one was
 *   lost: it is applied but `needsResubscribe` is set until a full state arrives (the RFC's remedy
 *   is a refreshing SUBSCRIBE, which makes the server send full state).
 * A notification is parsed completely before the state changes: a malformed one changes nothing.
 */
export class ResourceListState {
  private resources = new Map<string, TrackedResource>();
  private last: number | undefined;
  private listUri: string | undefined;
  private resync = false;

  constructor(uri?: string) {
    this.listUri = uri;
  }

  get uri(): string | undefined {
    return this.listUri;
  }
  get version(): number | undefined {
    return this.last;
  }
  get needsResubscribe(): boolean {
    return this.resync;
  }

  /** Applies a NOTIFY body given its Content-Type (multipart/related with an RLMI root). */
  applyNotify(body: string, contentType: string): ApplyOutcome {
    return guard('RLS notification', () => {
      const m = parseMultipartRelated(body, contentType);
      if (m.root.contentType !== RLMI_CONTENT_TYPE) throw malformed('RLS notification', `root part is ${m.root.contentType}, not ${RLMI_CONTENT_TYPE}`);
      return this.apply(parseRlmi(m.root.body), m);
    });
  }

  /** Applies a parsed RLMI list plus the notification's parts (for cid lookups). */
  apply(rlmi: RlmiList, parts: Pick<MultipartRelated, 'parts'> = { parts: [] }): ApplyOutcome {
    return guard('RLS notification', () => {
      if (this.listUri !== undefined && rlmi.uri !== this.listUri) return { applied: false, reason: 'wrong-list', version: rlmi.version };
      if (this.last !== undefined && rlmi.version <= this.last) {
        return { applied: false, reason: rlmi.version === this.last ? 'duplicate' : 'stale', version: rlmi.version };
      }
      // Resolve every document before touching the state: all or nothing.
      const incoming = rlmi.resources.map((r) => ({
        r,
        instances: r.instances.map((i): TrackedInstance => {
          const t: TrackedInstance = { ...i };
          const d = documentOf(parts, i.cid);
          if (d) t.document = d;
          return t;
        }),
      }));
      const gap = !rlmi.fullState && (this.last === undefined || rlmi.version !== this.last + 1);
      const changed: string[] = [];
      if (rlmi.fullState) {
        this.resources = new Map();
        this.resync = false;
      } else if (gap) {
        this.resync = true;
      }
      for (const { r, instances } of incoming) {
        const prev = this.resources.get(r.uri);
        const res: TrackedResource = { uri: r.uri, instances: [], state: 'unknown' };
        const name = r.name ?? prev?.name;
        if (name !== undefined) res.name = name;
        const byId = new Map<string, TrackedInstance>();
        if (!rlmi.fullState && prev) for (const i of prev.instances) byId.set(i.id, i);
        for (const i of instances) {
          if (i.state === 'terminated') {
            byId.delete(i.id);
            continue;
          }
          const old = byId.get(i.id);
          // An instance listed without a part keeps the state it had (RFC 4662 §5.2: no cid, no new state).
          if (!i.document && old?.document) i.document = old.document;
          byId.set(i.id, i);
        }
        res.instances = [...byId.values()];
        res.state = mostAvailable(res.instances.filter((i) => i.state === 'active' && i.document).map((i) => i.document!.state));
        this.resources.set(r.uri, res);
        changed.push(r.uri);
      }
      if (this.listUri === undefined) this.listUri = rlmi.uri;
      this.last = rlmi.version;
      return { applied: true, fullState: rlmi.fullState, version: rlmi.version, changed, gap };
    });
  }

  get(uri: string): TrackedResource | undefined {
    return this.resources.get(uri);
  }

  stateOf(uri: string): PresenceState {
    return this.resources.get(uri)?.state ?? 'unknown';
  }

  list(): TrackedResource[] {
    return [...this.resources.values()];
  }

  /** Forget everything (e.g. after a re-SUBSCRIBE created a new dialog). */
  reset(): void {
    this.resources.clear();
    this.last = undefined;
    this.resync = false;
  }
}
