import { DomainError, ErrorCodes } from '@keymaster/core';
import type { MailTransport } from '../notifications/email-sender.js';
import { type LinkKind, linkTtlMs, type NewLink } from './service.js';

/**
 * Where each link opens in the console. The token is in the fragment, which browsers never send
 * to a server: it stays out of access logs and `Referer` headers.
 */
const paths: Record<LinkKind, string> = {
  invitation: '/accept-invitation',
  password_reset: '/reset-password',
  setup: '/setup',
};

const subjects: Record<LinkKind, string> = {
  invitation: 'You are invited to the Keymaster console',
  password_reset: 'Reset your Keymaster console password',
  setup: 'Set up Keymaster',
};

/** A link as the API answers it: the URL, or null once it went by email to its person only. */
export interface DeliveredLink {
  url: string | null;
  emailed: boolean;
}

/**
 * Hands a one-time link to its person. With SMTP (`KEYMASTER_SMTP_URL`) and the server's public
 * address (`KEYMASTER_PUBLIC_URL`) configured, it is emailed and the API does not show it (whoever
 * asked for it is not whom it is for). Otherwise the API answers it, for the owner to pass on.
 */
export function createLinkDelivery(deps: {
  publicUrl: string | undefined;
  mail: { transport: MailTransport; from: string } | undefined;
}) {
  const urlOf = (link: NewLink) => `${deps.publicUrl ?? ''}${paths[link.kind]}#${link.token}`;
  return {
    urlOf,

    async deliver(link: NewLink): Promise<DeliveredLink> {
      const url = urlOf(link);
      if (!deps.mail || !deps.publicUrl || !link.email) return { url, emailed: false };
      const hours = Math.round(linkTtlMs[link.kind] / 3_600_000);
      const text = `${subjects[link.kind]}: open\n\n${url}\n\nThe link works once, for about ${hours} hours.`;
      try {
        await deps.mail.transport.sendMail({
          from: deps.mail.from,
          to: link.email,
          subject: subjects[link.kind],
          text,
          html: `<p>${subjects[link.kind]}: <a href="${url}">open it here</a>.</p><p>The link works once, for about ${hours} hours.</p>`,
          headers: { 'auto-submitted': 'auto-generated' },
        });
      } catch {
        throw new DomainError({
          kind: 'unavailable',
          code: ErrorCodes.unavailable,
          message: 'The email with the link could not be sent: try again later.',
        });
      }
      return { url: null, emailed: true };
    },
  };
}

export type LinkDelivery = ReturnType<typeof createLinkDelivery>;
