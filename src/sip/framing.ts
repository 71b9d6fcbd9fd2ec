/**
 * Stream framing for SIP over TCP/TLS (RFC 3261 §18.3): the header section ends at CRLFCRLF and
 * the body is exactly Content-Length BYTES. CRLF between messages are RFC 5626 §3.5.1 keep-alives:
 * a double CRLF is a ping, a single CRLF a pong.
 */
import { SipParseError } from '../errors.js';
import { MAX_MESSAGE_BYTES, parseHead, type SipMessage } from './message.js';

export type Frame = { type: 'message'; message: SipMessage; bytes: number } | { type: 'ping' } | { type: 'pong' };

const CRLFCRLF = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

export class SipStreamFramer {
  // Bytes waiting are store[start, end). A chunk that arrives while nothing waits is used as it is
  // (no copy: the usual case, whole messages per segment); otherwise bytes are appended to an
  // owned buffer that grows by doubling, so a peer dribbling one byte at a time costs linear, not
  // quadratic, copying and scanning.
  private store: Buffer = EMPTY;
  private owned = false;
  private start = 0;
  private end = 0;
  /** Bytes from `start` already searched for the end of the header section (and checked). */
  private scanned = 0;
  /** The head of the message whose body is still arriving, parsed once. */
  private waiting: { head: ReturnType<typeof parseHead>; bodyAt: number; total: number } | undefined;
  private failed: SipParseError | undefined;
  readonly maxMessageBytes: number;

  constructor(opts: { maxMessageBytes?: number } = {}) {
    this.maxMessageBytes = opts.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.end - this.start;
  }

  /**
   * Feeds bytes; returns every complete frame. Throws SipParseError on malformed input; after
   * that the stream has lost sync and every later push throws the same error (close the connection).
   */
  push(chunk: Buffer): Frame[] {
    if (this.failed) throw this.failed;
    this.append(chunk);
    const frames: Frame[] = [];
    try {
      for (;;) {
        const f = this.next();
        if (!f) break;
        frames.push(f);
      }
    } catch (err) {
      this.failed = err instanceof SipParseError ? err : new SipParseError('SIP_PARSE', String(err));
      this.store = EMPTY;
      this.start = this.end = this.scanned = 0;
      this.waiting = undefined;
      throw this.failed;
    }
    if (this.start === this.end) {
      // Nothing waits: drop the reference (a borrowed chunk or a grown buffer).
      this.store = EMPTY;
      this.owned = false;
      this.start = this.end = 0;
    }
    return frames;
  }

  private append(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.start === this.end) {
      this.store = chunk;
      this.owned = false;
      this.start = 0;
      this.end = chunk.length;
      return;
    }
    const len = this.end - this.start;
    if (!this.owned || this.end + chunk.length > this.store.length) {
      const grown = Buffer.allocUnsafe(Math.max(4096, 2 * (len + chunk.length)));
      this.store.copy(grown, 0, this.start, this.end);
      this.store = grown;
      this.owned = true;
      this.start = 0;
      this.end = len;
    }
    chunk.copy(this.store, this.end);
    this.end += chunk.length;
  }

  private consume(n: number): void {
    this.start += n;
    this.scanned = 0;
    this.waiting = undefined;
  }

  private next(): Frame | undefined {
    const b = this.store.subarray(this.start, this.end);
    if (b.length === 0) return undefined;
    if (this.waiting) return this.body(b, this.waiting);
    if (b[0] === 0x0d || b[0] === 0x0a) {
      if (b[0] === 0x0a) throw new SipParseError('SIP_BAD_HEADER', 'bare LF between messages');
      if (b.length < 2) return undefined;
      if (b[1] !== 0x0a) throw new SipParseError('SIP_BAD_HEADER', 'bare CR between messages');
      if (b.length < 3) {
        // A lone CRLF at the end of what has arrived: a pong (a ping's second CRLF would normally
        // arrive in the same segment; if it is split, it is read as two pongs, which is harmless).
        this.consume(2);
        return { type: 'pong' };
      }
      if (b[2] === 0x0d) {
        if (b.length < 4) return undefined;
        if (b[3] !== 0x0a) throw new SipParseError('SIP_BAD_HEADER', 'bare CR between messages');
        this.consume(4);
        return { type: 'ping' };
      }
      this.consume(2);
      return { type: 'pong' };
    }
    // Resume the search where the last one stopped (3 bytes back: CRLFCRLF may straddle chunks).
    const from = Math.max(0, this.scanned - 3);
    const end = b.indexOf(CRLFCRLF, from);
    if (end < 0) {
      if (b.length > this.maxMessageBytes) throw new SipParseError('SIP_MESSAGE_TOO_LARGE', `header section over ${this.maxMessageBytes} bytes`);
      // Refuse bare CR/LF early instead of buffering to the size limit.
      checkNoBareLineBreak(b, Math.max(0, this.scanned - 1));
      this.scanned = b.length;
      return undefined;
    }
    if (end > this.maxMessageBytes) throw new SipParseError('SIP_MESSAGE_TOO_LARGE', `header section over ${this.maxMessageBytes} bytes`);
    const head = parseHead(b.subarray(0, end));
    if (head.contentLength === undefined) {
      throw new SipParseError('SIP_BAD_CONTENT_LENGTH', 'Content-Length is required on a stream transport (RFC 3261 §18.3)');
    }
    const total = end + 4 + head.contentLength;
    if (total > this.maxMessageBytes) throw new SipParseError('SIP_MESSAGE_TOO_LARGE', `message of ${total} bytes over ${this.maxMessageBytes}`);
    this.waiting = { head, bodyAt: end + 4, total };
    return this.body(b, this.waiting);
  }

  private body(b: Buffer, w: { head: ReturnType<typeof parseHead>; bodyAt: number; total: number }): Frame | undefined {
    if (b.length < w.total) return undefined;
    const body = Buffer.from(b.subarray(w.bodyAt, w.total));
    this.consume(w.total);
    return { type: 'message', message: { ...w.head.message, body } as SipMessage, bytes: w.total };
  }
}

function checkNoBareLineBreak(b: Buffer, from = 0): void {
  for (let i = from; i < b.length; i++) {
    const c = b[i];
    if (c === 0x0a && (i === 0 || b[i - 1] !== 0x0d)) throw new SipParseError('SIP_BAD_HEADER', 'bare LF inside the header section');
    if (c === 0x0d && i + 1 < b.length && b[i + 1] !== 0x0a) throw new SipParseError('SIP_BAD_HEADER', 'bare CR inside the header section');
  }
}
