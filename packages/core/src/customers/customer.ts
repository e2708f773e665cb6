import type { JsonObject } from '../json.js';

/** A customer of the SaaS; `id` is the SaaS's own account id. */
export interface Customer {
  id: string;
  name: string | null;
  email: string | null;
  /** Free-form attributes that targeting rules can read (country, company size, beta opt-in...). */
  traits: JsonObject;
}
