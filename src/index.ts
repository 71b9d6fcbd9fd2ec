/** Public API of siplogon. */
export * from './errors.js';
export * from './core/types.js';
export { systemClock, VirtualClock, seededRandom } from './core/clock.js';
export type { Clock, RandomSource, TimerHandle } from './core/clock.js';
