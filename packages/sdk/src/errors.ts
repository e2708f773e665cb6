/**
 * The one error the SDK throws (from `load`, `consume`, reservations and `checkRemote`; never from
 * `check`). `status` is the HTTP status, or 0 when no answer came (`code` `network_error` or
 * `timeout`); `code` is the server's stable snake_case code.
 *
 * @example
 * try {
 *   await km.consume({ customer: 'acme', feature: 'api_calls' });
 * } catch (error) {
 *   if (error instanceof KeymasterError && error.code === 'not_found') ...
 * }
 */
export class KeymasterError extends Error {
  override readonly name = 'KeymasterError';
  readonly status: number;
  readonly code: string;
  readonly requestId: string | null;

  constructor(input: { message: string; status: number; code: string; requestId?: string | null; cause?: unknown }) {
    super(input.message, input.cause === undefined ? undefined : { cause: input.cause });
    this.status = input.status;
    this.code = input.code;
    this.requestId = input.requestId ?? null;
  }

  /** Worth retrying: no answer, a timeout, a 5xx or a 429. A 4xx will fail the same way again. */
  get retryable(): boolean {
    return this.status === 0 || this.status >= 500 || this.status === 429;
  }
}
