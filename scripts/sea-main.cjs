// The main script of the executable (scripts/dist.mjs): compiles the bundle, an asset of the executable, with the
// V8 code cache trained at build time (scripts/sea-train.cjs) and runs it as a CommonJS module. Node's own SEA code
// cache holds only the functions compiled before the script runs (the top level); this one also holds every
// function the training run compiled — module set-up, commander, the record, the plan, the client — which a
// command would otherwise compile on each start (about 30 ms of `status`).
const { getAsset } = require('node:sea');
const { Script } = require('node:vm');
const { wrap } = require('node:module');

const source = wrap(getAsset('etcdadm.cjs', 'utf8'));
let cachedData;
try {
  cachedData = Buffer.from(getAsset('etcdadm.cache'));
} catch {
  cachedData = undefined; // a reproducible build has none
}
const script = new Script(source, { filename: 'etcdadm.cjs', ...(cachedData && cachedData.length ? { cachedData } : {}) });
const mod = { exports: {} };
script.runInThisContext().call(mod.exports, mod.exports, require, mod, process.execPath, '/');
