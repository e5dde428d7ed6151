// Coded errors (CONVENTIONS §6): each knows its SMTP reply and whether it is temporary.

export interface SmtpReply {
  code: number;
  enhanced: string;
  text: string;
}

export class CodedError extends Error {
  readonly code: string;
  readonly smtp: SmtpReply | undefined;
  readonly httpStatus: number | undefined;
  readonly temporary: boolean;
  constructor(code: string, message: string, opts: { smtp?: SmtpReply; httpStatus?: number; temporary: boolean; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.name = 'CodedError';
    this.code = code;
    this.smtp = opts.smtp;
    this.httpStatus = opts.httpStatus;
    this.temporary = opts.temporary;
  }
}
