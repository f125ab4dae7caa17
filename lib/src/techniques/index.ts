export * from './smd';
export * from './stochastic-depth';
export * from './slu';
export * from './psg';
export * from './psg-bound';
export * from './slu-report';
