// oidc_server.js as a node:cluster of PEER_WORKERS processes (default 2) sharing one port.
// The primary only hands out connections (round-robin); it generates the signing key once,
// so every worker signs with the same ES256 key. If a worker dies the whole cluster stops
// (a benchmark must not measure a half-sized cluster), and SIGTERM/SIGINT stop every worker.
import cluster from 'node:cluster';

import { generateJwk, start } from './oidc_server.js';

if (cluster.isPrimary) {
  const count = Number(process.env.PEER_WORKERS || 2);
  if (!Number.isInteger(count) || count < 1 || count > 64) {
    throw new Error('PEER_WORKERS must be an integer in 1..64');
  }
  const env = { PEER_JWK: process.env.PEER_JWK || JSON.stringify(generateJwk()) };
  let stopping = false;
  const stop = (code) => {
    stopping = true;
    for (const worker of Object.values(cluster.workers)) {
      worker.process.kill('SIGTERM');
    }
    setTimeout(() => process.exit(code), 5_000).unref();
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers).length === 0) {
        process.exit(code);
      }
    });
  };
  for (let i = 0; i < count; i += 1) {
    cluster.fork(env);
  }
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      console.error(`worker ${worker.process.pid} exited (${signal || code}); stopping`);
      stop(1);
    }
  });
  process.once('SIGTERM', () => stop(0));
  process.once('SIGINT', () => stop(0));
} else {
  start().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
