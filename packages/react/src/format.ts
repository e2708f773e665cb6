import type { UpgradePlan } from './use-upgrade.js';

export function formatNumber(value: number, locale: string | undefined): string {
  return value.toLocaleString(locale);
}

/** Plan prices are in the currency's minor units (cents): 4900 usd → "$49.00/month". */
export function formatPrice(price: NonNullable<UpgradePlan['price']>, locale: string | undefined): string {
  let money: string;
  try {
    const format = new Intl.NumberFormat(locale, { style: 'currency', currency: price.currency.toUpperCase() });
    money = format.format(price.amount / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
  } catch {
    // A currency code Intl does not know: show the figures rather than nothing.
    money = `${(price.amount / 100).toFixed(2)} ${price.currency.toUpperCase()}`;
  }
  return `${money}/${price.interval}`;
}

export function formatDate(iso: string, locale: string | undefined): string {
  return new Date(iso).toLocaleDateString(locale, { dateStyle: 'medium' });
}

export function formatDateTime(iso: string, locale: string | undefined): string {
  return new Date(iso).toLocaleString(locale, { dateStyle: 'medium', timeStyle: 'short' });
}
