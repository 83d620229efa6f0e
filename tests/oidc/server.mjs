// Local OpenID Connect provider for Keyway's OAuth end-to-end tests.
//
// Owns: an oidc-provider instance on 127.0.0.1 (ephemeral port) with short access-token
// lifetimes, refresh-token rotation, PKCE required, RFC 7009 revocation and
// client_credentials; a scripted login/consent that completes over plain HTTP (no browser);
// and a fault-injecting proxy in front of it that counts token requests and can answer 503
// or hold requests on demand.
// Must not: listen on anything but loopback, or hold any real secret (client id/secret are
// test canaries passed in through the environment).
//
// Environment:
//   KEYWAY_OIDC_CLIENT_ID, KEYWAY_OIDC_CLIENT_SECRET  confidential client (basic auth); a
//     second client "<id>-post" with the same secret uses client_secret_post.
//   KEYWAY_OIDC_REDIRECT_URIS  comma-separated exact redirect URIs.
//   KEYWAY_OIDC_ACCESS_TTL     access token lifetime in seconds (default 60).
//
// The first stdout line is JSON: {"port":N,"proxyPort":M,"issuer":"http://127.0.0.1:N"}.
//
// Proxy control (on the proxy port):
//   GET  /__proxy/stats                 -> {"tokenRequests":n,"grantTypes":{..},"clientAuth":{..},"held":n}
//   POST /__proxy/reset                 -> zero the counters, clear faults and holds
//   POST /__proxy/fault?status=503&count=N[&retryAfter=S]  next N token requests get `status`
//   POST /__proxy/hold                  -> hold token requests (never forwarded) until release
//   POST /__proxy/release               -> forward held requests
//   POST /__proxy/drop                  -> close held requests without forwarding them
//   POST /__proxy/id-token?mode=M       -> the next token answer's id_token is changed:
//     resign  same claims, signed with the rotation key (published only after rotate-keys)
//     forge   same claims, signed with a key that is never published
//     tamper  a claim changed after signing (the signature no longer verifies)
//     aud | expired | nonce  that claim changed, validly re-signed with the provider's key
//   POST /json-token                    -> a provider with a non-standard token endpoint (for
//     token hooks): a JSON body {"grant":"authorization_code"|"refresh","code",
//     "verifier","redirect","refresh","client":{"id","secret"}} is translated to the real
//     form request (client authenticated with Basic); the answer is wrapped as
//     {"data":{"token","ttl","kind","granted","refresh"},"id_token","tenant"}, and a refresh
//     answer omits the refresh token (the proxy keeps the provider's rotated one behind
//     the first, as a provider with stable refresh tokens would). A form body is refused.
//   GET  /__proxy/json-stats            -> {"requests":n,"grants":{..},"keys":[..]}: the JSON
//     token requests and the key names of the last one
//   GET  /__proxy/json-last             -> the last JSON token request as received (test
//     canaries only: lets a test check what the host filled in, and look for it elsewhere)
// Interaction control (on the provider port):
//   POST /__control/deny-next           -> the next interaction ends with access_denied
//   POST /__control/rotate-keys         -> the JWKS also publishes the rotation key

import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const clientId = process.env.KEYWAY_OIDC_CLIENT_ID || 'keyway-test-client';
const clientSecret = process.env.KEYWAY_OIDC_CLIENT_SECRET || 'keyway-test-secret';
const redirectUris = (process.env.KEYWAY_OIDC_REDIRECT_URIS || 'http://127.0.0.1:1/callback')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const accessTtl = Number.parseInt(process.env.KEYWAY_OIDC_ACCESS_TTL || '60', 10);

let provider;
let denyNext = false;

// Signing keys: the provider's own (published), the rotation key (published after
// rotate-keys) and a key no JWKS ever names.
function rsaKey(kid) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pub = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const priv = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, pub, priv };
}
const providerKey = rsaKey('provider-key-1');
const rotationKey = rsaKey('rotation-key-2');
const unpublishedKey = rsaKey('unpublished-key-3');
let rotated = false;

function b64url(value) {
  return Buffer.from(value).toString('base64url');
}

function signJwt(claims, key) {
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: key.kid }));
  const payload = b64url(JSON.stringify(claims));
  const sig = crypto.sign('sha256', Buffer.from(`${header}.${payload}`), key.privateKey);
  return `${header}.${payload}.${sig.toString('base64url')}`;
}

// Rewrites an id_token as the proxy's mode says.
function rewriteIdToken(token, mode) {
  const [, payload] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  switch (mode) {
    case 'resign': return signJwt(claims, rotationKey);
    case 'forge': return signJwt(claims, unpublishedKey);
    case 'tamper': {
      const parts = token.split('.');
      parts[1] = b64url(JSON.stringify({ ...claims, sub: 'someone-else' }));
      return parts.join('.');
    }
    case 'aud': return signJwt({ ...claims, aud: 'another-client' }, providerKey);
    case 'expired': {
      const now = Math.floor(Date.now() / 1000);
      return signJwt({ ...claims, iat: now - 7200, exp: now - 3600 }, providerKey);
    }
    case 'nonce': return signJwt({ ...claims, nonce: 'not-the-one-sent' }, providerKey);
    default: return token;
  }
}
let idTokenMode = null;

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function json(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

// Scripted interaction: log in a fixed test account and grant what was asked for.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (denyNext) {
    denyNext = false;
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'The test user declined the request',
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: 'test-user' } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  let grant;
  if (details.grantId) {
    grant = await provider.Grant.find(details.grantId);
  } else {
    grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  }
  const missing = prompt.details.missingOIDCScope || [];
  if (missing.length) grant.addOIDCScope(missing.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, {
    mergeWithLastSubmission: true,
  });
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname.startsWith('/interaction/')) {
      await interaction(req, res);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/__control/deny-next') {
      denyNext = true;
      json(res, 200, { ok: true });
      return;
    }
    if (req.method === 'POST' && url.pathname === '/__control/rotate-keys') {
      rotated = true;
      json(res, 200, { ok: true });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/jwks') {
      json(res, 200, { keys: rotated ? [providerKey.pub, rotationKey.pub] : [providerKey.pub] });
      return;
    }
    provider.callback()(req, res);
  } catch (err) {
    console.error('harness error:', err && err.message);
    if (!res.headersSent) json(res, 500, { error: 'harness_error' });
  }
});

await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = server.address().port;
const issuer = `http://127.0.0.1:${port}`;

provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: `${clientId}-post`,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  cookies: { keys: ['keyway-test-cookie-key'] },
  jwks: { keys: [providerKey.priv] },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
  },
  interactions: { url: (_ctx, i) => `/interaction/${i.uid}` },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  pkce: { required: () => true },
  ttl: {
    AccessToken: accessTtl,
    ClientCredentials: accessTtl,
    AuthorizationCode: 60,
    Grant: 3600,
    Interaction: 600,
    Session: 3600,
    RefreshToken: 3600,
    IdToken: 600,
  },
  // Refresh tokens for every authorization_code grant, rotated on every use.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
});
provider.proxy = false;

// ---- fault-injecting proxy ----
const stats = { tokenRequests: 0, grantTypes: {}, clientAuth: {} };
let fault = null; // { status, count, retryAfter }
let holding = false;
let held = [];

function forward(req, res, body) {
  const upstream = http.request({
    host: '127.0.0.1',
    port,
    method: req.method,
    path: req.url,
    headers: { ...req.headers, host: `127.0.0.1:${port}` },
  }, (up) => {
    if (!(idTokenMode && req.url.startsWith('/token'))) {
      res.writeHead(up.statusCode, up.headers);
      up.pipe(res);
      return;
    }
    const chunks = [];
    up.on('data', (c) => chunks.push(c));
    up.on('end', () => {
      let text = Buffer.concat(chunks).toString('utf8');
      try {
        const answer = JSON.parse(text);
        if (answer.id_token) {
          answer.id_token = rewriteIdToken(answer.id_token, idTokenMode);
          idTokenMode = null;
          text = JSON.stringify(answer);
        }
      } catch (_) { /* not JSON: passed on as it is */ }
      const headers = { ...up.headers, 'content-length': Buffer.byteLength(text) };
      delete headers['transfer-encoding'];
      res.writeHead(up.statusCode, headers);
      res.end(text);
    });
  });
  upstream.on('error', () => {
    if (!res.headersSent) json(res, 502, { error: 'proxy_upstream_error' });
  });
  upstream.end(body);
}

// ---- non-standard token endpoint (JSON in, wrapped answer out) ----
const jsonStats = { requests: 0, grants: {}, keys: [] };
let jsonLast = null;
const stableRefresh = new Map(); // the refresh token the client holds -> the provider's newest

function jsonToken(req, res, body) {
  jsonStats.requests += 1;
  if (!/^application\/json/i.test(req.headers['content-type'] || '')) {
    json(res, 400, { error: 'invalid_request', error_description: 'JSON body required' });
    return;
  }
  let input;
  try {
    input = JSON.parse(body.toString('utf8'));
  } catch (_) {
    json(res, 400, { error: 'invalid_request', error_description: 'body is not JSON' });
    return;
  }
  jsonStats.keys = Object.keys(input).sort();
  jsonLast = { ...input, headers: { 'x-hook': req.headers['x-hook'] || null } };
  jsonStats.grants[input.grant] = (jsonStats.grants[input.grant] || 0) + 1;
  const client = input.client || {};
  const form = new URLSearchParams();
  let held = null;
  if (input.grant === 'authorization_code') {
    form.set('grant_type', 'authorization_code');
    form.set('code', input.code || '');
    form.set('code_verifier', input.verifier || '');
    form.set('redirect_uri', input.redirect || '');
  } else if (input.grant === 'refresh') {
    held = input.refresh || '';
    form.set('grant_type', 'refresh_token');
    form.set('refresh_token', stableRefresh.get(held) || held);
  } else {
    json(res, 400, { error: 'unsupported_grant_type' });
    return;
  }
  const enc = (v) => encodeURIComponent(v || '');
  const basic = Buffer.from(`${enc(client.id)}:${enc(client.secret)}`).toString('base64');
  const text = form.toString();
  const upstream = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/token',
    headers: {
      host: `127.0.0.1:${port}`,
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': Buffer.byteLength(text),
      authorization: `Basic ${basic}`,
    },
  }, (up) => {
    const chunks = [];
    up.on('data', (c) => chunks.push(c));
    up.on('end', () => {
      let answer;
      try {
        answer = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (_) {
        json(res, 502, { error: 'proxy_upstream_error' });
        return;
      }
      if (up.statusCode !== 200) {
        json(res, up.statusCode, answer);
        return;
      }
      const data = {
        token: answer.access_token,
        ttl: answer.expires_in,
        kind: answer.token_type,
        granted: answer.scope,
      };
      if (held === null) {
        data.refresh = answer.refresh_token;
      } else if (answer.refresh_token) {
        stableRefresh.set(held, answer.refresh_token);
      }
      const wrapped = { data, tenant: 'tenant-acme-7', region: 'eu' };
      if (answer.id_token) wrapped.id_token = answer.id_token;
      json(res, 200, wrapped);
    });
  });
  upstream.on('error', () => {
    if (!res.headersSent) json(res, 502, { error: 'proxy_upstream_error' });
  });
  upstream.end(text);
}

const proxy = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/__proxy/stats') {
    json(res, 200, { ...stats, held: held.length });
    return;
  }
  if (req.method === 'POST' && url.pathname === '/__proxy/reset') {
    stats.tokenRequests = 0;
    stats.grantTypes = {};
    stats.clientAuth = {};
    fault = null;
    idTokenMode = null;
    holding = false;
    const pending = held;
    held = [];
    for (const h of pending) forward(h.req, h.res, h.body);
    json(res, 200, { ok: true });
    return;
  }
  if (req.method === 'POST' && url.pathname === '/__proxy/fault') {
    fault = {
      status: Number.parseInt(url.searchParams.get('status') || '503', 10),
      count: Number.parseInt(url.searchParams.get('count') || '1000000', 10),
      retryAfter: url.searchParams.get('retryAfter'),
    };
    json(res, 200, { ok: true });
    return;
  }
  if (req.method === 'POST' && url.pathname === '/__proxy/id-token') {
    idTokenMode = url.searchParams.get('mode');
    json(res, 200, { ok: true });
    return;
  }
  if (req.method === 'POST' && url.pathname === '/__proxy/hold') {
    holding = true;
    json(res, 200, { ok: true });
    return;
  }
  if (req.method === 'POST' && url.pathname === '/__proxy/drop') {
    holding = false;
    const pending = held;
    held = [];
    for (const h of pending) h.res.socket?.destroy();
    json(res, 200, { dropped: pending.length });
    return;
  }
  if (req.method === 'POST' && url.pathname === '/__proxy/release') {
    holding = false;
    const pending = held;
    held = [];
    for (const h of pending) forward(h.req, h.res, h.body);
    json(res, 200, { released: pending.length });
    return;
  }
  if (url.pathname === '/__proxy/json-stats') {
    json(res, 200, jsonStats);
    return;
  }
  if (url.pathname === '/__proxy/json-last') {
    json(res, 200, jsonLast);
    return;
  }
  const body = await readBody(req);
  if (req.method === 'POST' && url.pathname === '/json-token') {
    jsonToken(req, res, body);
    return;
  }
  if (url.pathname === '/token') {
    stats.tokenRequests += 1;
    const form = new URLSearchParams(body.toString('utf8'));
    const grantType = form.get('grant_type') || 'unknown';
    stats.grantTypes[grantType] = (stats.grantTypes[grantType] || 0) + 1;
    const auth = /^basic /i.test(req.headers.authorization || '') ? 'basic'
      : (form.has('client_secret') ? 'post' : 'none');
    stats.clientAuth[auth] = (stats.clientAuth[auth] || 0) + 1;
    if (fault && fault.count > 0) {
      fault.count -= 1;
      const headers = { 'content-type': 'application/json' };
      if (fault.retryAfter) headers['retry-after'] = fault.retryAfter;
      res.writeHead(fault.status, headers);
      res.end(JSON.stringify({ error: 'temporarily_unavailable' }));
      return;
    }
    if (holding) {
      held.push({ req, res, body });
      return;
    }
  }
  forward(req, res, body);
});

await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const proxyPort = proxy.address().port;

process.stdout.write(`${JSON.stringify({ port, proxyPort, issuer })}\n`);

function shutdown() {
  server.close();
  proxy.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// Exit when the test process that started us goes away (stdin closes).
process.stdin.on('end', shutdown);
process.stdin.resume();
