import type { Keymaster } from '@keymaster/sdk';
import { createContext, useContext } from 'react';
import type { CustomerStore } from './customer-store.js';

export const KeymasterContext = createContext<CustomerStore | null>(null);

/** The provider's store; a clear error when a component is used outside a provider. */
export function useCustomerStore(caller: string): CustomerStore {
  const store = useContext(KeymasterContext);
  if (store === null) throw new Error(`${caller} must be used inside <KeymasterProvider>`);
  return store;
}

/**
 * The SDK client and customer of the nearest `<KeymasterProvider>`, for what the components do
 * not cover (`consume`, `track`, reservations). `client` is null until the provider has created
 * its client (after the first render).
 *
 * @example
 * const { client, customer } = useKeymaster();
 * const onExport = () => client?.consume({ customer, feature: 'exports' });
 */
export function useKeymaster(): { client: Keymaster | null; customer: string } {
  const store = useCustomerStore('useKeymaster');
  return { client: store.client, customer: store.customer };
}
