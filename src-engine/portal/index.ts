/**
 * The engine's portal session (docs/protocol.md §3–§4): the phoenix-channel session with its
 * sans-IO core, and the message schemas shared with the dev portal.
 */
export * from './backoff.js';
export * from './constants.js';
export * from './credentials.js';
export * from './frame.js';
export * from './log.js';
export * from './messages/index.js';
export * from './session-core.js';
export * from './session.js';
export * from './user-agent.js';
export * from './host-user-agent.js';
