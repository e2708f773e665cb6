import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { ResolvedAddress } from './address-policy.js';

/** What one attempt came to. */
export interface SendResult {
  statusCode: number | null;
  /** The start of the response body, for the deliveries list. */
  responseBody: string | null;
  error: string | null;
  durationMs: number;
}

/** How much of a response body is kept: enough to read an error, never a receiver's whole page. */
export const responseBodyLimit = 1024;

/**
 * POSTs one delivery, to the address the URL's host was checked to resolve to (the Host header
 * and TLS server name stay the URL's host). Never follows a redirect: a 3xx is an answer like any
 * other non-2xx. Settles within `timeoutMs` whatever the receiver does — hangs, trickles its
 * answer, closes mid-response — and with `signal` when the worker stops.
 */
export function send(input: {
  url: URL;
  address: ResolvedAddress;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  agents: { http: http.Agent; https: https.Agent };
  signal: AbortSignal;
}): Promise<SendResult> {
  const started = performance.now();
  const duration = () => Math.round(performance.now() - started);
  const { address } = input;
  // Node asks for every address when it may try several families; either way it gets the one checked.
  const pinned = ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options.all) callback(null, [{ address: address.address, family: address.family }]);
    else callback(null, address.address, address.family);
  }) as unknown as LookupFunction;
  const secure = input.url.protocol === 'https:';
  return new Promise<SendResult>((resolve) => {
    let settled = false;
    const finish = (result: Omit<SendResult, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      input.signal.removeEventListener('abort', onAbort);
      resolve({ ...result, durationMs: duration() });
    };
    const request = (secure ? https : http).request(
      input.url,
      {
        method: 'POST',
        agent: secure ? input.agents.https : input.agents.http,
        lookup: pinned,
        headers: {
          ...input.headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(input.body),
          'user-agent': 'Keymaster-Webhooks/1',
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        response.on('data', (chunk: Buffer) => {
          if (kept < responseBodyLimit) {
            chunks.push(chunk);
            kept += chunk.length;
          }
        });
        response.on('end', () => {
          const text = Buffer.concat(chunks).subarray(0, responseBodyLimit).toString('utf8');
          const code = response.statusCode ?? 0;
          finish({
            statusCode: code,
            responseBody: text === '' ? null : text,
            error: code >= 200 && code < 300 ? null : `answered ${code}`,
          });
        });
        response.on('error', (error) =>
          finish({ statusCode: response.statusCode ?? null, responseBody: null, error: describe(error) }),
        );
        response.on('close', () => {
          if (!response.complete) {
            finish({
              statusCode: response.statusCode ?? null,
              responseBody: null,
              error: 'the connection closed mid-response',
            });
          }
        });
      },
    );
    const timer = setTimeout(() => {
      finish({ statusCode: null, responseBody: null, error: `no answer within ${input.timeoutMs} ms` });
      request.destroy();
    }, input.timeoutMs);
    const onAbort = () => {
      finish({ statusCode: null, responseBody: null, error: 'the worker stopped' });
      request.destroy();
    };
    input.signal.addEventListener('abort', onAbort);
    request.on('error', (error) => finish({ statusCode: null, responseBody: null, error: describe(error) }));
    request.end(input.body);
  });
}

function describe(error: Error): string {
  const code = (error as { code?: string }).code;
  return code ? `${code}: ${error.message}`.slice(0, 300) : error.message.slice(0, 300);
}
