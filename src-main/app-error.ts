import type { UserError } from '../src-shared/domain.js';

/** An error meant for the user: its message is shown as is, its code is stable. */
export class AppError extends Error implements UserError {
  constructor(
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'AppError';
  }

  static from(error: UserError): AppError {
    return new AppError(error.code, error.message, error.field);
  }

  toUserError(): UserError {
    return this.field
      ? { code: this.code, message: this.message, field: this.field }
      : { code: this.code, message: this.message };
  }
}
