/**
 * Incremental parsers for the two text framings the hub streams, shared by the client (Node
 * fetch streams), the CLI and the tests. They take text chunks as they arrive, in any split.
 */

/** One dispatched Server-Sent Event. */
export interface SseEvent {
  /** The `id:` of this event, or undefined when it had none. */
  id: string | undefined;
  event: string;
  data: string;
  /** A `retry:` value seen with this event, if any. */
  retry: number | undefined;
}

/**
 * An SSE parser following the HTML standard's "event stream interpretation": lines end in CRLF,
 * LF or CR; `:` lines are comments (reported through `onComment`, used as heartbeats); an empty
 * line dispatches; events with no data are not dispatched.
 */
export class SseParser {
  #buf = '';
  #data: string[] = [];
  #event = '';
  #id: string | undefined;
  #retry: number | undefined;
  #sawCr = false;
  readonly #onEvent: (e: SseEvent) => void;
  readonly #onComment: ((text: string) => void) | undefined;

  constructor(onEvent: (e: SseEvent) => void, onComment?: (text: string) => void) {
    this.#onEvent = onEvent;
    this.#onComment = onComment;
  }

  push(chunk: string): void {
    let text = this.#buf + chunk;
    // A CR at the end of the previous chunk already ended a line; drop the LF that completes it.
    if (this.#sawCr && text.startsWith('\n')) text = text.slice(1);
    this.#sawCr = false;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      this.#line(text.slice(start, i));
      if (ch === 13) {
        if (i + 1 === text.length) this.#sawCr = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.#buf = text.slice(start);
  }

  #line(line: string): void {
    if (line === '') {
      if (this.#data.length > 0) {
        this.#onEvent({
          id: this.#id,
          event: this.#event || 'message',
          data: this.#data.join('\n'),
          retry: this.#retry,
        });
      }
      this.#data = [];
      this.#event = '';
      this.#id = undefined;
      this.#retry = undefined;
      return;
    }
    if (line.charCodeAt(0) === 58) {
      this.#onComment?.(line.slice(1));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') this.#data.push(value);
    else if (field === 'event') this.#event = value;
    else if (field === 'id' && !value.includes('\u0000')) this.#id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.#retry = Number(value);
  }
}

/**
 * Splits newline-delimited JSON into parsed values. Empty lines (the hub's heartbeats) are
 * reported through `onBlank`; a line that is not JSON goes to `onError` and is skipped.
 */
export class NdjsonParser {
  #buf = '';
  readonly #onValue: (v: unknown) => void;
  readonly #onBlank: (() => void) | undefined;
  readonly #onError: ((line: string) => void) | undefined;

  constructor(onValue: (v: unknown) => void, onBlank?: () => void, onError?: (line: string) => void) {
    this.#onValue = onValue;
    this.#onBlank = onBlank;
    this.#onError = onError;
  }

  push(chunk: string): void {
    const text = this.#buf + chunk;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const line = text.slice(start, nl).trim();
      start = nl + 1;
      if (line === '') {
        this.#onBlank?.();
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        this.#onError?.(line);
        continue;
      }
      this.#onValue(value);
    }
    this.#buf = text.slice(start);
  }
}
