/** The portal API's message schemas (docs/protocol.md §3.4–3.8, §4.2–4.3), shared by engine and portal. */
export * from './common.js';
export * from './client.js';
export * from './gateway.js';
export * from './parse.js';
