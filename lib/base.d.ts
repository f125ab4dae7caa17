// Entry shim of `ecotrain/base`: the declarations are generated into out/build (run `npm run build`).
export * from '../out/build/lib/src/base';
