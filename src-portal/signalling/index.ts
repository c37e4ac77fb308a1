/** The portal's signalling logic (sans-IO), shared by the dev portal and the simulation harness. */
export * from './catalog.js';
export * from './core.js';
export * from './grants.js';
export * from './views.js';
