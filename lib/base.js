'use strict';
// Entry shim of `ecotrain/base`: the compiled sources live in out/build (run `npm run build`).
module.exports = require('../out/build/lib/src/base.js');
