export * from './smd';
export * from './stochastic-depth';
export * from './slu';
export * from './psg';
