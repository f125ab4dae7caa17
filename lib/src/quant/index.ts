export * from './precision';
export * from './quantizers';
export * from './layers';
export * from './stats';
export * from './schemes';
