/** Coded error classes of the runtime (config errors live in src/config/errors.ts). */
export class LogferryError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** An input received bytes it cannot make sense of; the connection that sent them is closed. */
export class ProtocolError extends LogferryError {
  constructor(message: string) { super('LF_PROTOCOL', message); }
}

/** Emitting a stream failed (no buffer space, a failing output): the sender must not be acked. */
export class EmitError extends LogferryError {
  constructor(message: string, readonly cause_?: unknown) { super('LF_EMIT', message); }
}

/** A record a filter or output could not process; it goes to @ERROR (or is logged and dropped). */
export class RecordError extends LogferryError {
  constructor(message: string) { super('LF_RECORD', message); }
}

/** Thrown on purpose for data that can never be sent: skip retries. */
export class UnrecoverableError extends LogferryError {
  constructor(message: string) { super('LF_UNRECOVERABLE', message); }
}

/** Anything else a write may throw is retried. */
export class RetryableError extends LogferryError {
  constructor(message: string) { super('LF_RETRYABLE', message); }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The destination asked us to slow down: retry no sooner than `retryAfterMs`. */
export class ThrottledError extends LogferryError {
  constructor(message: string, readonly retryAfterMs: number) { super('LF_THROTTLED', message); }
}
