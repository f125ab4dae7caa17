'use strict';
// Entry shim: the compiled sources live in out/build (run `npm run build`).
module.exports = require('../out/build/kernel-ext/src/index.js');
