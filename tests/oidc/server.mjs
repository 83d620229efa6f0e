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
// Interaction control (on the provider port):
//   POST /__control/deny-next           -> the next interaction ends with access_denied

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
    res.writeHead(up.statusCode, up.headers);
    up.pipe(res);
  });
  upstream.on('error', () => {
    if (!res.headersSent) json(res, 502, { error: 'proxy_upstream_error' });
  });
  upstream.end(body);
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
  const body = await readBody(req);
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
