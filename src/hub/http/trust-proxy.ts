import { BlockList, isIP } from 'node:net';

/**
 * `options.trustProxy`: which peers are reverse proxies whose `X-Forwarded-For` says who the client
 * is. Behind nginx every connection comes from nginx, so without it the per-IP limits
 * (`limits.maxConnectionsPerIp`, `limits.publishRatePerIp`) would count every client as one.
 *
 * The header is believed only as far as trusted hops vouch for it, as Express's `trust proxy` and
 * nginx's `real_ip_recursive` do: starting from the peer, each address a trusted hop appended is
 * taken, right to left, until one that is not trusted (the client, or whatever the client wrote
 * itself, which is never believed past that point).
 */

/** Named address sets, as Express spells them. */
const NAMED: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** Whether an address (as a socket reports it) is a trusted proxy. */
export type TrustedProxy = (address: string) => boolean;

/**
 * Compiles a list of addresses, CIDR ranges (`10.0.0.0/8`, `fd00::/8`) and the names `loopback`,
 * `linklocal`, `uniquelocal` into a check; null for an empty list (nothing trusted: the fast path).
 * Throws an Error naming the first entry it cannot read.
 */
export function compileTrustProxy(entries: readonly string[]): TrustedProxy | null {
  if (entries.length === 0) return null;
  const list = new BlockList();
  for (const entry of entries) {
    for (const item of NAMED[entry] ?? [entry]) {
      const slash = item.indexOf('/');
      const address = slash === -1 ? item : item.slice(0, slash);
      const family = isIP(address);
      if (family === 0)
        throw new Error(`${JSON.stringify(entry)} is not an IP address, a CIDR range or a name`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (slash === -1) {
        list.addAddress(address, type);
        continue;
      }
      const bits = item.slice(slash + 1);
      const prefix = /^\d{1,3}$/.test(bits) ? Number(bits) : -1;
      if (prefix < 0 || prefix > (family === 4 ? 32 : 128))
        throw new Error(`${JSON.stringify(entry)} has an invalid prefix length`);
      list.addSubnet(address, prefix, type);
    }
  }
  return (address) => {
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
}

/**
 * The client's address: the peer's, unless the peer is trusted, then the rightmost address in
 * `forwardedFor` (an `X-Forwarded-For` value, entries joined by commas) not appended by a trusted
 * hop. An entry that is not an IP address ends the walk at the last good one: a trusted proxy
 * appends addresses, so anything else was written by someone the walk has not vouched for.
 */
export function clientAddress(
  peer: string,
  forwardedFor: string | undefined,
  trusted: TrustedProxy | null,
): string {
  if (trusted === null || forwardedFor === undefined || !trusted(peer)) return peer;
  let address = peer;
  let end = forwardedFor.length;
  while (end > 0) {
    const comma = forwardedFor.lastIndexOf(',', end - 1);
    const hop = forwardedFor.slice(comma + 1, end).trim();
    end = comma;
    if (isIP(hop) === 0) break;
    address = hop;
    if (!trusted(hop)) break;
  }
  return address;
}
