import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedEmail {
  /** The envelope: who the client said the message is from and for. */
  mailFrom: string;
  rcptTo: string[];
  parsed: ParsedMail;
}

/** How the listener answers the next message: accept it, or refuse it with an SMTP code. */
export type SmtpAnswer = { accept: true } | { accept: false; code: number; message: string };

/**
 * A real SMTP server on 127.0.0.1 for email tests: plain SMTP (no STARTTLS, no AUTH), records and
 * parses every message it accepts, and refuses the ones `answer` says to (after the data, as a
 * mail server that greylists or rejects would).
 */
export async function startSmtpListener(): Promise<{
  url: string;
  received: ReceivedEmail[];
  /** Answers for the next messages, in order; once they are used up, every message is accepted. */
  answerNext(...answers: SmtpAnswer[]): void;
  /** How many messages were offered, accepted or not. */
  offered(): number;
  close(): Promise<void>;
}> {
  const received: ReceivedEmail[] = [];
  const answers: SmtpAnswer[] = [];
  let offered = 0;
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        offered++;
        const answer = answers.shift() ?? { accept: true };
        if (!answer.accept) {
          const error = Object.assign(new Error(answer.message), { responseCode: answer.code });
          callback(error);
          return;
        }
        const envelope = session.envelope;
        simpleParser(Buffer.concat(chunks)).then(
          (parsed) => {
            received.push({
              mailFrom: envelope.mailFrom === false ? '' : envelope.mailFrom.address,
              rcptTo: envelope.rcptTo.map((r) => r.address),
              parsed,
            });
            callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    answerNext: (...next) => answers.push(...next),
    offered: () => offered,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
