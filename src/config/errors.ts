// Errors an operator can act on: what, where, and what to do. The CLI prints them in one line
// (plus the hint) and exits 2; anything else is a bug or an environment failure (exit 1).
export class InputError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}
