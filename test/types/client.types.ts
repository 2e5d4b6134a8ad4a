// Type tests of cometa/client: compiled (never run) by `tsc -p tsconfig.json` in `npm test`, under
// strict, exactOptionalPropertyTypes and noUncheckedIndexedAccess. Each `@ts-expect-error` line
// must be an error: tsc fails if it compiles, so the probes cannot pass by accident.
import {
  addURLParam,
  beacon,
  type CometaError,
  type Envelope,
  type GapData,
  get,
  isHTTPError,
  jsonp,
  type Message,
  ping,
  post,
  request,
  requestSync,
  type Subscription,
  type SubscriptionStatus,
  subscribe,
} from '../../src/client/index.js';

interface Quote {
  symbol: string;
  price: number;
}
declare function render(symbol: string, price: number): void;

export function typedSubscriptions(): Subscription<Quote> {
  // Data typed by the type argument: handlers and `on()` see Quote; ids of messages are strings.
  const sub = subscribe<Quote>('https://hub.example.com', ['quotes.eur', 'quotes.usd'], {
    onMessage: (e) => {
      render(e.data.symbol, e.data.price);
      localStorage.setItem('cursor', e.id);
    },
    onGap: (e) => {
      const reason: GapData['reason'] = e.data.reason;
      const next: string | null = e.data.next;
      return [reason, next];
    },
    onDeleted: (e) => e.data.channel,
    onError: (e: CometaError) => e.code,
  });
  sub.on('message', (e) => render(e.data.symbol, e.data.price));
  // @ts-expect-error a Quote has no `volume`
  sub.on('message', (e) => e.data.volume);
  sub.on('gap', (e) => e.data.since);
  sub.on('error', (e) => e.message);

  // A handler annotated with the envelope type gives the type argument.
  const inferred = subscribe('/hub', 'quotes.eur', { onMessage: (e: Envelope<Quote>) => e.data.price });
  inferred.on('message', (e: Message<Quote>) => e.data.price);
  // @ts-expect-error the subscription's data is a Quote, not a string
  inferred.on('message', (e: Message<string>) => e.data);

  // Without a type argument, data is unknown and must be narrowed.
  subscribe('/hub', 'a', {
    onMessage: (e) => {
      // @ts-expect-error data is unknown
      e.data.price;
    },
  });
  return sub;
}

export function inputs(): void {
  // Read-only channel lists, URL objects, and a cursor straight from storage.
  const CHANNELS = ['scores.nba', 'scores.nhl'] as const;
  const sub = subscribe(new URL('https://hub.example.com/live'), CHANNELS, {
    since: localStorage.getItem('cursor'),
    transports: ['sse', 'longpoll'] as const,
    signal: AbortSignal.timeout(60_000),
    last: undefined,
  });
  subscribe('/hub', 'a', { since: localStorage.getItem('cursor') ?? undefined });
  sub.channels = CHANNELS;
  sub.channels = 'scores.mlb';
  sub.setChannels(CHANNELS);
  const now: string[] = sub.channels;
  now.push('mutable copy');

  // @ts-expect-error not a transport
  subscribe('/hub', 'a', { transports: ['carrier-pigeon'] });
  // @ts-expect-error a typo in an option name
  subscribe('/hub', 'a', { onMesage: () => {} });
  // @ts-expect-error channels are strings
  subscribe('/hub', [1, 2]);
  // @ts-expect-error `last` is a count
  subscribe('/hub', 'a', { last: '10' });
}

export function statuses(s: SubscriptionStatus): string | undefined {
  if (s.state === 'failed') return s.error?.code;
  // @ts-expect-error not a state
  if (s.state === 'errored') return undefined;
  return s.failed ?? s.transport;
}

export async function ajax(): Promise<number> {
  const { data } = await get<Quote>(new URL('https://api.example.com/quotes/eur'));
  // @ts-expect-error a Quote has no `volume`
  data.volume;
  await post<Quote>(new URL('https://api.example.com/quotes'), { symbol: 'EUR', price: 1 });
  // Options accept explicit undefined (values read from elsewhere), like subscribe's.
  const r = await request<Quote[]>('/quotes', { timeout: undefined, signal: undefined, query: { page: 2 } });
  // @ts-expect-error noUncheckedIndexedAccess: an element may be missing
  r.data[0].price;
  try {
    await get('/me');
  } catch (e) {
    if (isHTTPError<{ error: { code: string } }>(e)) return e.data.error.code.length + e.status;
  }
  // @ts-expect-error a URL or a string, not a number
  await get(42);
  // The other functions that take a URL take URL objects too.
  const api = new URL('https://api.example.com/user');
  await jsonp<Quote>(api, { query: { id: 7 } });
  await ping(api, { event: 'signup' });
  await beacon(api, { t: 1 });
  requestSync<Quote>(api).data.price;
  addURLParam(api, 'page', 2).endsWith('page=2');
  return data.price;
}
