import type { PortalFeature, PortalPrice, PortalView } from './portal-client.js';

/** How the portal components write numbers and dates: the locale and time zone they are given. */
export interface PortalFormat {
  /** For numbers, prices and dates; the browser's by default. */
  locale?: string | undefined;
  /** For dates, e.g. `UTC`; the browser's by default. */
  timeZone?: string | undefined;
}

export function portalNumber(value: number, format: PortalFormat): string {
  return value.toLocaleString(format.locale);
}

/** Prices are in the currency's minor units: 4900 usd → "$49.00/month". */
export function portalPrice(price: PortalPrice, format: PortalFormat): string {
  let money: string;
  try {
    const currency = new Intl.NumberFormat(format.locale, {
      style: 'currency',
      currency: price.currency.toUpperCase(),
    });
    money = currency.format(price.amount / 10 ** (currency.resolvedOptions().maximumFractionDigits ?? 2));
  } catch {
    // A currency code Intl does not know: show the figures rather than nothing.
    money = `${(price.amount / 100).toFixed(2)} ${price.currency.toUpperCase()}`;
  }
  return `${money}/${price.interval}`;
}

export function portalDate(iso: string, format: PortalFormat): string {
  return new Date(iso).toLocaleDateString(format.locale, {
    dateStyle: 'medium',
    ...(format.timeZone ? { timeZone: format.timeZone } : {}),
  });
}

const perReset: Record<string, string> = {
  day: ' a day',
  week: ' a week',
  month: ' a month',
  year: ' a year',
  billing_period: ' per billing period',
  never: ' in total',
};

/** What a plan gives of a feature: "API calls: 1,000 a month", "Seats: unlimited", "Single sign-on". */
export function portalFeatureTerms(feature: PortalFeature, format: PortalFormat): string {
  if (feature.unlimited) return `${feature.name}: unlimited`;
  if (feature.limit === null) return feature.name;
  const per = feature.window ? ` per ${feature.window}` : feature.reset ? (perReset[feature.reset] ?? '') : '';
  return `${feature.name}: ${portalNumber(feature.limit, format)}${per}`;
}

/** A feature's name, as the catalog's plans and add-ons call it; the key if none lists it. */
export function portalFeatureName(view: PortalView, feature: string): string {
  for (const offer of [...view.plans, ...view.add_ons]) {
    const found = offer.features.find((item) => item.feature === feature);
    if (found) return found.name;
  }
  return feature;
}
