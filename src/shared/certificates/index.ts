export * from './hash';
export * from './hostnames';
export * from './planner';
export * from './from-config';
export * from './adoption';
