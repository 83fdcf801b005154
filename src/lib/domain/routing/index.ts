/**
 * Routing, assignment and SLA engine: pure functions over a roster, a queue
 * and a versioned policy. Time is always a parameter.
 */
export * from './types';
export * from './policy';
export * from './roster';
export * from './eligibility';
export * from './scoring';
export * from './explain';
export * from './decide';
export * from './rebalance';
export * from './sla';
export * from './replay';
export { Prng } from './prng';
