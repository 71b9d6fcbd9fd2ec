/**
 * A value that must never reach a log, a JSON document or an error message: passwords, relay
 * credentials. JSON.stringify, String() and util.inspect all print "[redacted]".
 */
const value = new WeakMap<Secret, string>();

export class Secret {
  constructor(v: string) {
    value.set(this, v);
  }
  reveal(): string {
    return value.get(this) ?? '';
  }
  toJSON(): string {
    return '[redacted]';
  }
  toString(): string {
    return '[redacted]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[redacted]';
  }
}
