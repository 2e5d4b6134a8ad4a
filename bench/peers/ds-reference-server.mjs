// The Durable Streams reference server (@durable-streams/server) as a bench peer:
// `node ds-reference-server.mjs PORT [DATA_DIR]` (in memory, or file-backed in DATA_DIR).
import { DurableStreamTestServer } from '@durable-streams/server';

const [port, dataDir] = process.argv.slice(2);
const server = new DurableStreamTestServer({
  port: Number(port),
  host: '127.0.0.1',
  longPollTimeout: 25_000,
  // Same wire as cometa's answers (cometa does not compress).
  compression: false,
  ...(dataDir ? { dataDir } : {}),
});
await server.start();
process.on('SIGTERM', () => {
  server.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
