export type { ClientErrorCode, Envelope } from '../protocol/index.js';
