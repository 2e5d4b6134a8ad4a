export * from './channel.js';
export * from './cursor.js';
export * from './envelope.js';
export * from './errors.js';
export * from './framing.js';
