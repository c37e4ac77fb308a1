/** The deterministic in-memory portal of the simulation harness. */
export * from './sim-portal.js';
export * from './sim-link.js';
export * from './example-catalog.js';
