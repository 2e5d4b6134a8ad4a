import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { HubError, sendJson } from '../http/respond.js';
import type { StreamEngine } from './engine.js';

/**
 * The demo's "resumable answer": a SIMULATED answer written token by token into a JSON-mode
 * Durable Stream, as a language model's output would be, so the page can show that a reader that
 * reloads mid-answer resumes from its offset with no token repeated or missing. Nothing is
 * generated: the text is fixed and says it is simulated.
 */
const ANSWER =
  '(Simulated answer, no model involved.) Comet keeps a response open so the server can push ' +
  'as soon as something happens. The hard part is the reconnect: a connection that drops must ' +
  'continue exactly where it stopped, with nothing lost and nothing shown twice. A Durable Stream ' +
  'gives every token an offset; the page keeps the last offset it rendered, and after a reload it ' +
  'reads on from there. Reload this page now and watch the answer carry on from the same word.';

/** The answer's tokens: words with their following space, as a model streams them. */
export const ANSWER_TOKENS: readonly string[] = ANSWER.match(/\S+\s*/g) ?? [];

/** Answers written at once at most (each holds a timer until it is done). */
const MAX_RUNNING = 16;
let running = 0;

/**
 * `POST /demo/answer`: creates `demo/answer/{random}` (expires an hour after its last use) and
 * starts writing the answer into it, one token every `tokenMs`; answers `{ path, tokens }` at once.
 */
export async function startDemoAnswer(
  engine: StreamEngine,
  res: ServerResponse,
  cors: Record<string, string>,
  mount: string,
  tokenMs = 120,
): Promise<void> {
  if (running >= MAX_RUNNING) {
    throw new HubError('ERR_RATE_LIMITED', 'too many simulated answers are being written; retry', {
      'Retry-After': '5',
    });
  }
  const path = `demo/answer/${randomBytes(6).toString('base64url')}`;
  await engine.create(path, {
    contentType: 'application/json',
    ttlSeconds: 3600,
    expiresAt: undefined,
    closed: false,
    body: Buffer.alloc(0),
    forkedFrom: undefined,
    forkOffset: undefined,
    forkSubOffset: undefined,
  });
  running++;
  let i = 0;
  const next = (): void => {
    const last = i === ANSWER_TOKENS.length - 1;
    engine
      .append(path, {
        contentType: 'application/json',
        body: Buffer.from(JSON.stringify([ANSWER_TOKENS[i]])),
        close: last,
        streamSeq: undefined,
        producer: undefined,
      })
      .then(
        () => {
          i++;
          if (last) running--;
          else setTimeout(next, tokenMs).unref();
        },
        () => {
          running--;
        },
      );
  };
  setTimeout(next, tokenMs).unref();
  sendJson(res, 201, { path, url: `${mount}/${path}`, tokens: ANSWER_TOKENS.length, simulated: true }, cors);
}
