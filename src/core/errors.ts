// Exit codes of docs/design.md#exit-codes, and the error classes that carry them up to the one handleError.

export const ExitCode = {
  Ok: 0,
  Internal: 1,
  Usage: 2,
  Invariant: 3,
  Threshold: 4,
  Mismatch: 5,
  Service: 6,
  /** Ctrl-C: the conventional 128 + SIGINT; the partial report is written first. */
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class FlashsaleError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly suggestion?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad option, scenario or config. The message names the field, the bad value and what is accepted. */
export class UsageError extends FlashsaleError {
  constructor(message: string, suggestion?: string) {
    super(message, ExitCode.Usage, suggestion);
  }
}

/** A service (Redis, Postgres, provider) could not be reached. The URL in the message is redacted. */
export class ServiceError extends FlashsaleError {
  constructor(
    readonly service: string,
    message: string,
    suggestion?: string,
  ) {
    super(message, ExitCode.Service, suggestion);
  }
}

/**
 * Replaces the password in every URL in `text`: in the userinfo (up to the last `@`, so a password
 * holding `/` or `@` unencoded is hidden whole) and in query parameters that carry one
 * (`?password=`, `sslpassword=`, `token=`, `secret=`, `key=`…).
 */
export function redact(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)([^/\s:@]*):(\S*)@/gi, (_m, scheme, user) => `${scheme}${user}:***@`)
    .replace(/([?&](?:ssl)?(?:password|passwd|pwd|pass|secret|token|api_?key|key)=)[^&\s#]*/gi, '$1***');
}
