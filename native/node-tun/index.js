'use strict';
/* global require, exports, __dirname -- CommonJS */
// node-tun: loads the prebuilt or locally built addon (node-gyp-build looks in prebuilds/ first,
// then build/Release). Named exports are plain assignments so ESM `import { TunDevice } from
// 'node-tun'` works through Node's CommonJS named-export detection.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const binding = require('node-gyp-build')(__dirname);

exports.ADDR_SIZE = binding.ADDR_SIZE;
exports.encodeAddress = binding.encodeAddress;
exports.decodeAddress = binding.decodeAddress;
exports.TunDevice = binding.TunDevice;
exports.UdpSocket = binding.UdpSocket;
exports.setSocketMark = binding.setSocketMark;
exports.createTcpSocket = binding.createTcpSocket;
exports.UnixSocket = binding.UnixSocket;
exports.closeFd = binding.closeFd;
// Internal: the TUN offload byte work (split/coalesce), exported for tests only.
exports._vnet = binding.vnet;
