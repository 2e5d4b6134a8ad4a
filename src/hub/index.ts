/**
 * cometa, the hub: `createHub()` gives a server (or a handler to mount) that pushes channel
 * messages to browsers over long-poll, XHR streaming, SSE, WebSocket and JSONP.
 */
export * from '../protocol/index.js';
export type { AuthOptions, JwtAlgorithm } from './auth/config.js';
export type {
  AuthAction,
  AuthorizeContext,
  AuthorizeHook,
  AuthorizeHookOptions,
  Credentials,
} from './http/auth.js';
export { HubError, isHubError } from './http/respond.js';
export { type ChannelInfo, createHub, Hub } from './hub.js';
export type {
  ChannelPolicy,
  ChannelRule,
  CorsOptions,
  HubOptions,
  LimitOptions,
  RetentionRule,
  StreamsOptions,
} from './options.js';
export { OptionsError } from './options.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory.js';
export type * from './stores/store.js';
export { StoreUnavailableError } from './stores/store.js';
export type { StreamEngine } from './streams/engine.js';
