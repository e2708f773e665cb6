import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * Addresses a webhook may not reach unless KEYMASTER_WEBHOOK_ALLOW_PRIVATE=true: this host and
 * its neighbours, which an attacker who can register a URL would otherwise reach from inside the
 * network (SSRF) — cloud metadata (169.254.169.254) above all.
 */
// Two lists: a BlockList also matches IPv4 addresses against IPv6 rules (as mapped addresses).
const refusedV4 = new BlockList();
const refusedV6 = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  refusedV4.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['::ffff:0:0', 96], // IPv4-mapped: would reach any IPv4 address, private ones included
  ['64:ff9b::', 96], // NAT64, likewise
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  refusedV6.addSubnet(network, prefix, 'ipv6');
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Why a URL may not be called, or null when it may. */
export type UrlVerdict = { ok: true; address: ResolvedAddress } | { ok: false; reason: string };

function familyOf(address: string): 4 | 6 {
  return isIP(address) === 6 ? 6 : 4;
}

/** Whether the address may be called: public, or private with `allowPrivate`. */
export function addressAllowed(address: string, allowPrivate: boolean): boolean {
  if (allowPrivate) return true;
  const family = isIP(address);
  if (family === 0) return false;
  return family === 6 ? !refusedV6.check(address, 'ipv6') : !refusedV4.check(address, 'ipv4');
}

function isLoopback(address: string): boolean {
  return loopback.check(address, familyOf(address) === 6 ? 'ipv6' : 'ipv4');
}

/**
 * Parses the URL and checks it and every address its host resolves to now. The answer names the
 * address to connect to, so the caller connects to what was checked: resolving again at connect
 * time would let a DNS answer that changes in between (rebinding) reach a refused address.
 *
 * https is required; http only for a loopback host with `allowPrivate` (a receiver on this
 * machine, in development and tests).
 */
export async function checkUrl(input: {
  url: string;
  allowPrivate: boolean;
  resolve?: (host: string) => Promise<ResolvedAddress[]>;
}): Promise<UrlVerdict> {
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    return { ok: false, reason: 'is not a URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: 'must be an https URL' };
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'must not hold credentials' };
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: ResolvedAddress[];
  if (isIP(host) !== 0) {
    addresses = [{ address: host, family: familyOf(host) }];
  } else {
    try {
      addresses = await (input.resolve ?? resolveHost)(host);
    } catch {
      return { ok: false, reason: `has a host that does not resolve (${host})` };
    }
    if (addresses.length === 0) return { ok: false, reason: `has a host that does not resolve (${host})` };
  }
  const bad = addresses.find((a) => !addressAllowed(a.address, input.allowPrivate));
  if (bad) {
    return {
      ok: false,
      reason: `resolves to ${bad.address}, a loopback, private, link-local or metadata address (KEYMASTER_WEBHOOK_ALLOW_PRIVATE)`,
    };
  }
  if (url.protocol === 'http:' && !(input.allowPrivate && addresses.every((a) => isLoopback(a.address)))) {
    return {
      ok: false,
      reason: 'must be an https URL (http only for a loopback receiver with KEYMASTER_WEBHOOK_ALLOW_PRIVATE)',
    };
  }
  return { ok: true, address: addresses[0]! };
}

async function resolveHost(host: string): Promise<ResolvedAddress[]> {
  const found = await lookup(host, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
}
