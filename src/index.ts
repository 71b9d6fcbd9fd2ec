/** Public API of siplogon. */
export * from './errors.js';
export * from './core/index.js';
