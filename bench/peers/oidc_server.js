// node-oidc-provider as a benchmark peer: client_credentials with ES256 JWT access tokens
// for one resource server (RFC 8707 resource indicators), plus introspection (RFC 7662) of
// its own opaque tokens. One process; oidc_cluster.js runs several of these.
//
// Configured by the environment (bench/oauth_tokens.py sets all of it):
//   PEER_PORT            port on 127.0.0.1 (required)
//   PEER_CLIENT_ID       the one client, client_secret_basic (required)
//   PEER_CLIENT_SECRET
//   PEER_AUDIENCE        the resource indicator (and "aud") of the JWT access tokens
//   PEER_SCOPE           the scopes the resource server understands, space-separated
//   PEER_JWK             a private ES256 JWK as JSON; generated here when missing
//   PEER_SEED_TOKEN      optional: an opaque client_credentials token value stored at
//                        start, so that every process of a cluster knows the same token
//                        (the default in-memory store is per process)
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set`);
  }
  return value;
}

export function generateJwk() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: randomBytes(8).toString('hex'), alg: 'ES256', use: 'sig' };
}

export async function start() {
  const port = Number(required('PEER_PORT'));
  const clientId = required('PEER_CLIENT_ID');
  const clientSecret = required('PEER_CLIENT_SECRET');
  const audience = required('PEER_AUDIENCE');
  const scope = process.env.PEER_SCOPE || '';
  const jwk = process.env.PEER_JWK ? JSON.parse(process.env.PEER_JWK) : generateJwk();
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, client, oneOf) => oneOf,
        useGrantedResource: () => false,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          if (resourceIndicator !== audience) {
            throw new errors.InvalidTarget();
          }
          return {
            scope,
            audience,
            accessTokenTTL: 900,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    ttl: { ClientCredentials: 900 },
  });

  if (process.env.PEER_SEED_TOKEN) {
    const client = await provider.Client.find(clientId);
    const token = new provider.ClientCredentials({ client, scope: scope || undefined });
    token.format = 'opaque'; // what save() resolves for a token without a resource server
    token.jti = process.env.PEER_SEED_TOKEN; // an opaque token's value is its id
    await token.save();
  }

  const server = createServer(provider.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  console.log(`oidc-provider peer listening: pid ${process.pid}, ${issuer}`);
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return server;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  start().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
