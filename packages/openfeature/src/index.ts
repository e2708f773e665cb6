export { KeymasterProvider, type KeymasterProviderOptions } from './keymaster-provider.js';
