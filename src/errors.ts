/**
 * The one error type users see. `message` says what is wrong, `hint` what to do about it; the CLI prints
 * both on one line and exits non-zero, without a stack trace. Anything else that escapes is a bug in zinc.
 */
export class ZincError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.name = "ZincError";
    this.hint = hint;
  }

  /** "what is wrong: what to do" — the single line the CLI prints. */
  oneLine(): string {
    return this.hint ? `${this.message}; ${this.hint}` : this.message;
  }
}
