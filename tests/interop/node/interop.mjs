// Drives AuthGate with openid-client, for tests/interop/test_openid_client.py.
//
//   node interop.mjs discover            '<json args>'
//   node interop.mjs client-credentials  '<json args>'
//   node interop.mjs code                '<json args>'
//
// Every mode prints one JSON object per line on stdout. "code" is interactive: it prints
// {"authorization_url": ...}, reads the callback URL (the redirect the user agent was
// sent to) as one line on stdin, then prints the result. Failures go to stderr as JSON
// and exit with status 2.

import * as client from 'openid-client';
import { createInterface } from 'node:readline';

const [mode, rawArgs] = process.argv.slice(2);
const args = JSON.parse(rawArgs ?? '{}');

function say(object) {
  process.stdout.write(JSON.stringify(object) + '\n');
}

// Token responses carry helper methods; keep only their data.
function plain(object) {
  return JSON.parse(JSON.stringify(object));
}

function clientAuth() {
  switch (args.auth ?? 'client_secret_basic') {
    case 'client_secret_basic':
      return client.ClientSecretBasic(args.clientSecret);
    case 'client_secret_post':
      return client.ClientSecretPost(args.clientSecret);
    case 'none':
      return client.None();
    default:
      throw new Error(`unknown auth method ${args.auth}`);
  }
}

async function configure() {
  // The tests serve AuthGate over http on loopback: openid-client refuses http unless
  // told otherwise.
  const config = await client.discovery(
    new URL(args.issuer),
    args.clientId,
    undefined,
    clientAuth(),
    { execute: [client.allowInsecureRequests] },
  );
  // Verify ID token signatures against the JWKS too (off by default over TLS).
  client.enableNonRepudiationChecks(config);
  return config;
}

function readLine() {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: process.stdin });
    lines.once('line', (line) => {
      resolve(line.trim()); // before close(), whose 'close' event would reject
      lines.close();
    });
    lines.once('close', () => reject(new Error('stdin closed before the callback URL came')));
  });
}

async function discover() {
  const config = await configure();
  say({
    server: config.serverMetadata(),
    supports_pkce: config.serverMetadata().supportsPKCE(),
    client: config.clientMetadata(),
  });
}

async function clientCredentials() {
  const config = await configure();
  const parameters = {};
  if (args.scope) parameters.scope = args.scope;
  if (args.resource) parameters.resource = args.resource;
  const tokens = await client.clientCredentialsGrant(config, parameters);
  say({ tokens: plain(tokens), expires_in: tokens.expiresIn() });
}

async function authorizationCode() {
  const config = await configure();
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: args.redirectUri,
    scope: args.scope,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  say({ authorization_url: url.href, state, nonce });

  const callback = new URL(await readLine());
  // Checks state, iss (RFC 9207), the PKCE verifier, and the ID token (signature
  // against the JWKS, iss, aud, nonce, at_hash).
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);

  const result = {
    tokens: plain(tokens),
    id_token_claims: plain(claims),
    userinfo: plain(userinfo),
    refreshed: plain(refreshed),
    refreshed_id_token_claims: plain(refreshed.claims() ?? null),
  };
  if (args.introspect) {
    // Introspection needs a confidential client (RFC 7662 §2.1).
    result.introspection_before = plain(
      await client.tokenIntrospection(config, refreshed.access_token),
    );
  }
  await client.tokenRevocation(config, refreshed.refresh_token, {
    token_type_hint: 'refresh_token',
  });
  if (args.introspect) {
    result.introspection_after = plain(
      await client.tokenIntrospection(config, refreshed.access_token),
    );
  }
  say(result);
}

const modes = {
  discover,
  'client-credentials': clientCredentials,
  code: authorizationCode,
};

try {
  const run = modes[mode];
  if (!run) throw new Error(`unknown mode ${mode}; use one of ${Object.keys(modes).join(', ')}`);
  await run();
} catch (error) {
  process.stderr.write(
    JSON.stringify({
      name: error?.name,
      code: error?.code,
      message: error?.message,
      error: error?.error,
      error_description: error?.error_description,
      status: error?.status,
      cause: error?.cause === undefined ? undefined : String(error.cause?.message ?? error.cause),
    }) + '\n',
  );
  process.exit(2);
}
