// A real OpenID Provider for the tests: the certified oidc-provider package with its development
// login pages (any login name, any password). Started by tests/auth/oidc_server.py:
//   node provider.mjs CONFIG.json
// CONFIG: {"client_id", "client_secret", "redirect_uri", "accounts": {"<login>": {"groups": [...], "email": ...}}}
// It listens on 127.0.0.1 and a port the kernel picks, and prints one JSON line {"issuer": ...} once it serves.
// Each request it receives is logged to stderr as "request METHOD PATH" (tests count them).
import fs from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts || {};

const server = http.createServer();
server.on('request', (req) => console.error(`request ${req.method} ${req.url.split('?')[0]}`));
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: config.client_id,
      client_secret: config.client_secret,
      redirect_uris: [config.redirect_uri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    // Each key is a scope and the claims it releases; "groups" becomes a scope of its own.
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email'],
      groups: ['groups'],
    },
    // Put the scopes' claims in the ID token itself (the relying party reads them from there).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['calcifer-test-provider-cookie-key'] },
    async findAccount(ctx, id) {
      const known = accounts[id] || {};
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            preferred_username: id,
            name: known.name || id,
            email: known.email || `${id}@example.org`,
            groups: known.groups || [],
          };
        },
      };
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  server.on('request', provider.callback());
  console.log(JSON.stringify({ issuer }));
});
