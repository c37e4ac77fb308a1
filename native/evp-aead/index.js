'use strict';
/* global require, exports, __dirname -- CommonJS */
// evp-aead: loads the locally built addon (node-gyp-build: prebuilds/, then build/Release). When
// the addon cannot be loaded at all, or finds no OpenSSL, `available` is false and `reason` says
// why; `seal`/`open` then throw.
let binding;
try {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  binding = require('node-gyp-build')(__dirname);
} catch (err) {
  binding = {
    available: false,
    reason: `addon failed to load: ${String(err && err.message).split('\n')[0]}`,
    source: '',
  };
}

const unavailable = () => {
  throw new Error(`evp-aead is not available: ${binding.reason}`);
};

exports.available = binding.available === true;
exports.reason = binding.reason;
exports.source = binding.source;
exports.seal = binding.available ? binding.seal : unavailable;
exports.open = binding.available ? binding.open : unavailable;
