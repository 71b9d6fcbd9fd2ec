/**
 * Stream framing for SIP over TCP/TLS (RFC 3261 §18.3): the header section ends at CRLFCRLF and
 * the body is exactly Content-Length BYTES. CRLF between messages are RFC 5626 §3.5.1 keep-alives:
 * a double CRLF is a ping, a single CRLF a pong.
 */
import { SipParseError } from '../errors.js';
import { MAX_MESSAGE_BYTES, parseHead, type SipMessage } from './message.js';

export type Frame = { type: 'message'; message: SipMessage; bytes: number } | { type: 'ping' } | { type: 'pong' };

const CRLFCRLF = Buffer.from('\r\n\r\n');

export class SipStreamFramer {
  private buf: Buffer = Buffer.alloc(0);
  private failed: SipParseError | undefined;
  readonly maxMessageBytes: number;

  constructor(opts: { maxMessageBytes?: number } = {}) {
    this.maxMessageBytes = opts.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.buf.length;
  }

  /**
   * Feeds bytes; returns every complete frame. Throws SipParseError on malformed input; after
   * that the stream has lost sync and every later push throws the same error (close the connection).
   */
  push(chunk: Buffer): Frame[] {
    if (this.failed) throw this.failed;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: Frame[] = [];
    try {
      for (;;) {
        const f = this.next();
        if (!f) break;
        frames.push(f);
      }
    } catch (err) {
      this.failed = err instanceof SipParseError ? err : new SipParseError('SIP_PARSE', String(err));
      this.buf = Buffer.alloc(0);
      throw this.failed;
    }
    return frames;
  }

  private next(): Frame | undefined {
    const b = this.buf;
    if (b.length === 0) return undefined;
    if (b[0] === 0x0d || b[0] === 0x0a) {
      if (b[0] === 0x0a) throw new SipParseError('SIP_BAD_HEADER', 'bare LF between messages');
      if (b.length < 2) return undefined;
      if (b[1] !== 0x0a) throw new SipParseError('SIP_BAD_HEADER', 'bare CR between messages');
      if (b.length < 3) {
        // A lone CRLF at the end of what has arrived: a pong (a ping's second CRLF would normally
        // arrive in the same segment; if it is split, it is read as two pongs, which is harmless).
        this.buf = b.subarray(2);
        return { type: 'pong' };
      }
      if (b[2] === 0x0d) {
        if (b.length < 4) return undefined;
        if (b[3] !== 0x0a) throw new SipParseError('SIP_BAD_HEADER', 'bare CR between messages');
        this.buf = b.subarray(4);
        return { type: 'ping' };
      }
      this.buf = b.subarray(2);
      return { type: 'pong' };
    }
    const end = b.indexOf(CRLFCRLF);
    if (end < 0) {
      if (b.length > this.maxMessageBytes) throw new SipParseError('SIP_MESSAGE_TOO_LARGE', `header section over ${this.maxMessageBytes} bytes`);
      // Refuse bare CR/LF early instead of buffering to the size limit.
      checkNoBareLineBreak(b);
      return undefined;
    }
    if (end > this.maxMessageBytes) throw new SipParseError('SIP_MESSAGE_TOO_LARGE', `header section over ${this.maxMessageBytes} bytes`);
    const head = parseHead(b.subarray(0, end));
    if (head.contentLength === undefined) {
      throw new SipParseError('SIP_BAD_CONTENT_LENGTH', 'Content-Length is required on a stream transport (RFC 3261 §18.3)');
    }
    const total = end + 4 + head.contentLength;
    if (total > this.maxMessageBytes) throw new SipParseError('SIP_MESSAGE_TOO_LARGE', `message of ${total} bytes over ${this.maxMessageBytes}`);
    if (b.length < total) return undefined;
    const body = Buffer.from(b.subarray(end + 4, total));
    this.buf = b.subarray(total);
    return { type: 'message', message: { ...head.message, body } as SipMessage, bytes: total };
  }
}

function checkNoBareLineBreak(b: Buffer): void {
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === 0x0a && (i === 0 || b[i - 1] !== 0x0d)) throw new SipParseError('SIP_BAD_HEADER', 'bare LF inside the header section');
    if (c === 0x0d && i + 1 < b.length && b[i + 1] !== 0x0a) throw new SipParseError('SIP_BAD_HEADER', 'bare CR inside the header section');
  }
}
