/**
 * The demo's SIMULATED feed: plausible live sports scores on `scores.{league}` and stock quotes on
 * `quotes.{SYMBOL}`, published through `hub.publish` on a timer. Nothing here is real data; every
 * message carries `simulated: true` and the demo page says so.
 */

/** What the feed needs from a hub. */
export interface FeedTarget {
  publish(channel: string, data: unknown, options?: { event?: string }): Promise<string>;
}

/** Options of {@link DemoFeed}. */
export interface DemoFeedOptions {
  /** Milliseconds between quote ticks. @default 700 */
  quoteEveryMs?: number;
  /** Milliseconds between score events. @default 1500 */
  scoreEveryMs?: number;
  /** Random source (tests pass a seeded one). @default Math.random */
  random?: () => number;
}

export interface Game {
  id: string;
  home: string;
  away: string;
  homeScore: number;
  awayScore: number;
  /** Period (quarter, half, period) and minutes played in it. */
  period: number;
  clock: string;
  status: 'live' | 'final';
}

/** Data of a `score` message on `scores.{league}`: the league's games after `change`. */
export interface ScoreUpdate {
  simulated: true;
  league: string;
  games: Game[];
  change: { game: string; team: string; points: number; text: string } | null;
}

/** Data of a `quote` message on `quotes.{SYMBOL}`. */
export interface Quote {
  simulated: true;
  symbol: string;
  name: string;
  price: number;
  open: number;
  change: number;
  changePct: number;
  volume: number;
}

interface League {
  name: string;
  periods: number;
  periodMinutes: number;
  /** Possible points of one scoring event, with weights. */
  points: [number, number][];
  verbs: Record<number, string>;
  teams: string[];
}

const LEAGUES: Record<string, League> = {
  nba: {
    name: 'NBA',
    periods: 4,
    periodMinutes: 12,
    points: [
      [2, 6],
      [3, 3],
      [1, 2],
    ],
    verbs: { 1: 'free throw', 2: 'field goal', 3: 'three-pointer' },
    teams: ['Lakers', 'Celtics', 'Warriors', 'Bucks', 'Nuggets', 'Heat', 'Suns', 'Knicks'],
  },
  epl: {
    name: 'Premier League',
    periods: 2,
    periodMinutes: 45,
    points: [[1, 1]],
    verbs: { 1: 'GOAL' },
    teams: ['Arsenal', 'Chelsea', 'Liverpool', 'Man City', 'Spurs', 'Newcastle', 'Villa', 'Everton'],
  },
  nhl: {
    name: 'NHL',
    periods: 3,
    periodMinutes: 20,
    points: [[1, 1]],
    verbs: { 1: 'goal' },
    teams: ['Bruins', 'Rangers', 'Oilers', 'Leafs', 'Avalanche', 'Stars', 'Kings', 'Canucks'],
  },
};

const STOCKS: [string, string, number][] = [
  ['AAPL', 'Apple', 189.5],
  ['MSFT', 'Microsoft', 411.2],
  ['NVDA', 'Nvidia', 121.8],
  ['AMZN', 'Amazon', 178.4],
  ['TSLA', 'Tesla', 242.1],
  ['EURUSD', 'Euro / US Dollar', 1.0842],
];

/** The channels the feed publishes on. */
export const FEED_CHANNELS = {
  scores: Object.keys(LEAGUES).map((l) => `scores.${l}`),
  quotes: STOCKS.map(([s]) => `quotes.${s}`),
};

/**
 * A simulated live feed for the demo. `start()` publishes an initial state on every channel, then
 * score events and quote ticks on timers; `stop()` ends it (the hub stops it on `close()`).
 *
 * @example
 * ```ts
 * const feed = new DemoFeed(hub);
 * feed.start();
 * // ... later
 * feed.stop();
 * ```
 */
export class DemoFeed {
  readonly #hub: FeedTarget;
  readonly #random: () => number;
  readonly #quoteEveryMs: number;
  readonly #scoreEveryMs: number;
  readonly #games = new Map<string, Game[]>();
  readonly #quotes = new Map<string, Quote>();
  readonly #timers: NodeJS.Timeout[] = [];
  #running = false;
  /** Messages published so far. */
  published = 0;

  constructor(hub: FeedTarget, options: DemoFeedOptions = {}) {
    this.#hub = hub;
    this.#random = options.random ?? Math.random;
    this.#quoteEveryMs = options.quoteEveryMs ?? 700;
    this.#scoreEveryMs = options.scoreEveryMs ?? 1500;
    for (const key of Object.keys(LEAGUES)) this.#games.set(key, this.#newGames(key));
    for (const [symbol, name, price] of STOCKS) {
      this.#quotes.set(symbol, {
        simulated: true,
        symbol,
        name,
        price,
        open: price,
        change: 0,
        changePct: 0,
        volume: 0,
      });
    }
  }

  get running(): boolean {
    return this.#running;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const key of this.#games.keys()) this.#send(`scores.${key}`, 'score', this.#scoreData(key, null));
    for (const q of this.#quotes.values()) this.#send(`quotes.${q.symbol}`, 'quote', { ...q });
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      t.unref();
      this.#timers.push(t);
    };
    every(this.#scoreEveryMs, () => this.#scoreTick());
    every(this.#quoteEveryMs, () => this.#quoteTick());
  }

  stop(): void {
    this.#running = false;
    for (const t of this.#timers.splice(0)) clearInterval(t);
  }

  #pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.#random() * items.length)] as T;
  }

  #newGames(key: string): Game[] {
    const league = LEAGUES[key]!;
    const teams = [...league.teams].sort(() => this.#random() - 0.5);
    const games: Game[] = [];
    for (let i = 0; i + 1 < teams.length; i += 2) {
      const nba = key === 'nba';
      games.push({
        id: `${key}-${i / 2 + 1}`,
        home: teams[i]!,
        away: teams[i + 1]!,
        homeScore: nba ? 40 + Math.floor(this.#random() * 30) : Math.floor(this.#random() * 2),
        awayScore: nba ? 40 + Math.floor(this.#random() * 30) : Math.floor(this.#random() * 2),
        period: 2,
        clock: `${Math.floor(this.#random() * league.periodMinutes)}'`,
        status: 'live',
      });
    }
    return games;
  }

  #scoreData(key: string, change: ScoreUpdate['change']): ScoreUpdate {
    return {
      simulated: true,
      league: LEAGUES[key]!.name,
      games: this.#games.get(key)!.map((g) => ({ ...g })),
      change,
    };
  }

  #scoreTick(): void {
    const key = this.#pick([...this.#games.keys()]);
    const league = LEAGUES[key]!;
    const games = this.#games.get(key)!;
    const game = this.#pick(games.filter((g) => g.status === 'live'));
    if (game === undefined) {
      // Every game ended: a new round starts.
      this.#games.set(key, this.#newGames(key));
      this.#send(`scores.${key}`, 'score', this.#scoreData(key, null));
      return;
    }
    // The clock moves on; past the last period the game is final.
    const minute = Number.parseInt(game.clock, 10) + 1 + Math.floor(this.#random() * 3);
    if (minute >= league.periodMinutes) {
      if (game.period >= league.periods) {
        game.status = 'final';
        game.clock = 'FT';
        this.#send(`scores.${key}`, 'score', this.#scoreData(key, null));
        return;
      }
      game.period++;
      game.clock = "0'";
    } else game.clock = `${minute}'`;
    const total = league.points.reduce((n, [, w]) => n + w, 0);
    let r = this.#random() * total;
    let points = 1;
    for (const [p, w] of league.points) {
      r -= w;
      if (r < 0) {
        points = p;
        break;
      }
    }
    const home = this.#random() < 0.5;
    if (home) game.homeScore += points;
    else game.awayScore += points;
    const team = home ? game.home : game.away;
    this.#send(
      `scores.${key}`,
      'score',
      this.#scoreData(key, {
        game: game.id,
        team,
        points,
        text: `${team}: ${league.verbs[points] ?? 'score'}`,
      }),
    );
  }

  #quoteTick(): void {
    // Two or three symbols move per tick, a random walk with a slight pull back to the open.
    const n = 2 + Math.floor(this.#random() * 2);
    for (let i = 0; i < n; i++) {
      const q = this.#quotes.get(this.#pick(STOCKS)[0])!;
      const drift = (q.open - q.price) / q.open / 50;
      const step = (this.#random() - 0.5) * 0.004 + drift;
      const decimals = q.price < 10 ? 4 : 2;
      q.price = round(q.price * (1 + step), decimals);
      q.change = round(q.price - q.open, decimals);
      q.changePct = round((q.change / q.open) * 100, 2);
      q.volume += 100 * (1 + Math.floor(this.#random() * 50));
      this.#send(`quotes.${q.symbol}`, 'quote', { ...q });
    }
  }

  #send(channel: string, event: string, data: unknown): void {
    if (!this.#running) return;
    this.published++;
    // A failure (store down, hub closing) only skips this tick; the feed keeps going.
    this.#hub.publish(channel, data, { event }).catch(() => {});
  }
}

function round(n: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(n * f) / f;
}
