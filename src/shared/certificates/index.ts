export * from './hash';
export * from './hostnames';
export * from './planner';
