import { createKeymaster, type FailurePolicy, type Keymaster, type KeymasterOptions } from '@keymaster/sdk';
import { type ReactNode, useEffect, useMemo, useState } from 'react';
import { CustomerStore } from './customer-store.js';
import { KeymasterContext } from './keymaster-context.js';

/** Settings of the client a provider makes itself, besides `baseUrl` and the token. */
export type ProviderClientOptions = Omit<KeymasterOptions, 'baseUrl' | 'apiKey' | 'customerToken'>;

/**
 * `<KeymasterProvider>` props: the signed-in `customer`, and either an SDK `client` you made or
 * `baseUrl` + `token` (a customer token from `POST /v1/customer-tokens`) for the provider to make
 * one. Never give a browser a secret key.
 */
export type KeymasterProviderProps = {
  /** The Keymaster customer id whose entitlements the components show. */
  customer: string;
  children?: ReactNode;
} & (
  | { client: Keymaster; baseUrl?: never; token?: never; options?: never }
  | {
      client?: never;
      /** The Keymaster server, e.g. `https://keymaster.example.com`. */
      baseUrl: string;
      /** A customer token for `customer`, minted by your backend. A new token makes a new client. */
      token: string;
      /** Read when the client is made (on mount, and when `baseUrl` or `token` change). */
      options?: ProviderClientOptions;
    }
);

/**
 * Gives the components below it a Keymaster client and a customer. With `baseUrl` and `token` it
 * makes the client itself (after the first render, so it is safe in StrictMode and with server
 * rendering), streams that customer's changes and closes the client on unmount; a `client`
 * you pass is used as is and left to you to close.
 *
 * @example
 * // token: from your backend, which called POST /v1/customer-tokens with its secret key
 * <KeymasterProvider baseUrl="https://keymaster.example.com" token={token} customer="acme">
 *   <Feature feature="sso" fallback={<UpgradeNotice />}>
 *     <SsoSettings />
 *   </Feature>
 * </KeymasterProvider>
 */
export function KeymasterProvider(props: KeymasterProviderProps): ReactNode {
  const { customer, children } = props;
  const given = props.client ?? null;
  const baseUrl = given === null ? props.baseUrl : undefined;
  const token = given === null ? props.token : undefined;
  const options = given === null ? props.options : undefined;
  const [made, setMade] = useState<Keymaster | null>(null);
  // Answers before the client exists follow the policy the client will have (read on mount).
  const [failurePolicy] = useState<FailurePolicy>(() => options?.failurePolicy ?? { default: 'closed' });

  // biome-ignore lint/correctness/useExhaustiveDependencies: options are read when the client is made, as documented.
  useEffect(() => {
    if (baseUrl === undefined || token === undefined) return;
    const client = createKeymaster({ ...options, baseUrl, customerToken: token });
    setMade(client);
    return () => {
      setMade(null);
      void client.close();
    };
  }, [baseUrl, token]);

  const client = given ?? made;
  const store = useMemo(
    () => new CustomerStore({ client, customer, failurePolicy }),
    [client, customer, failurePolicy],
  );
  useEffect(() => store.connect(), [store]);

  return <KeymasterContext.Provider value={store}>{children}</KeymasterContext.Provider>;
}
