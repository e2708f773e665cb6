export {
  type CustomerTokenSource,
  KeymasterWebProvider,
  type KeymasterWebProviderOptions,
} from './keymaster-web-provider.js';
