// Entry shim: the declarations are generated into out/build (run `npm run build`).
export * from '../out/build/kernel-ext/src/index';
