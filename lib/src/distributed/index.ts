export * from './wire';
export * from './job';
export * from './terngrad-cluster';
