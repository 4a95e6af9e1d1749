// An independent OIDC provider (panva's `oidc-provider`, certified by the OpenID Foundation)
// on loopback, for kit's token validation tests (crates/kit/tests/oidc_provider.rs).
//
//   node provider.mjs [--port 0] [--client-id shop-test] [--client-secret shop-test-secret]
//                     [--publish A] [--sign A] [--keys-dir DIR] [--exit-with-stdin 1]
//
// Prints `listening http://127.0.0.1:<port>` on standard output once it accepts requests
// (port 0, the default, picks a free one). The issuer is that URL.
//
// - Discovery, JWKS (`/jwks`) and the token endpoint (`/token`) are oidc-provider's own.
// - One confidential client (client credentials, `client_secret_post` or `_basic`).
// - Resource `urn:shop:api` (the default) issues RS256 JWT access tokens with audience
//   `shop-api`; resource `urn:shop:other` issues them with audience `other-api`.
// - Claims in Keycloak's layout: `realm_access.roles` = ["service", "offline_access"],
//   `resource_access["shop-api"].roles` = ["admin"], `resource_access["other-client"].roles`
//   = ["user"], `preferred_username` = `service-account-<client id>`.
// - Key rotation, for tests only: `POST /__control/keys` with `{"publish": ["B", "A"],
//   "sign": "B"}` publishes those keys (RSA 2048, generated on first use of a name and kept
//   for the life of the process, or in --keys-dir) and signs new tokens with `sign`. The
//   answer is the public JWKS now served. The provider is rebuilt in place, on the same port.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import Provider from 'oidc-provider';

function parseArgs(argv) {
  const options = {
    port: 0,
    clientId: 'shop-test',
    clientSecret: 'shop-test-secret',
    publish: ['A'],
    sign: undefined,
    keysDir: undefined,
    exitWithStdin: false,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    i += 1;
    switch (flag) {
      case '--port': options.port = Number(value); break;
      case '--client-id': options.clientId = value; break;
      case '--client-secret': options.clientSecret = value; break;
      case '--publish': options.publish = value.split(',').filter(Boolean); break;
      case '--sign': options.sign = value; break;
      case '--keys-dir': options.keysDir = value; break;
      case '--exit-with-stdin': options.exitWithStdin = value === '1'; break;
      default: throw new Error(`unknown option ${flag}`);
    }
  }
  options.sign ??= options.publish[0];
  return options;
}

const options = parseArgs(process.argv.slice(2));
const privateKeys = new Map();

function privateKey(kid) {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(kid)) throw new Error(`bad key name ${JSON.stringify(kid)}`);
  if (privateKeys.has(kid)) return privateKeys.get(kid);
  const file = options.keysDir && path.join(options.keysDir, `${kid}.json`);
  let jwk;
  if (file && fs.existsSync(file)) {
    jwk = JSON.parse(fs.readFileSync(file, 'utf8'));
  } else {
    const { privateKey: key } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    jwk = { ...key.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
    if (file) fs.writeFileSync(file, JSON.stringify(jwk), { mode: 0o600 });
  }
  privateKeys.set(kid, jwk);
  return jwk;
}

function build(issuer, publish, sign) {
  if (!publish.includes(sign)) throw new Error(`the signing key ${sign} must be published`);
  const resources = {
    'urn:shop:api': 'shop-api',
    'urn:shop:other': 'other-api',
  };
  return new Provider(issuer, {
    clients: [{
      client_id: options.clientId,
      client_secret: options.clientSecret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
    }],
    jwks: { keys: publish.map(privateKey) },
    cookies: { keys: ['bench-oidc-cookie-key'] },
    ttl: { ClientCredentials: 600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:shop:api',
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, resourceIndicator) {
          const audience = resources[resourceIndicator];
          if (!audience) throw new Error(`unknown resource ${resourceIndicator}`);
          return {
            scope: 'api',
            audience,
            accessTokenTTL: 600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256', kid: sign } },
          };
        },
      },
    },
    extraTokenClaims(ctx, token) {
      return {
        azp: token.clientId,
        preferred_username: `service-account-${token.clientId}`,
        realm_access: { roles: ['service', 'offline_access'] },
        resource_access: {
          'shop-api': { roles: ['admin'] },
          'other-client': { roles: ['user'] },
        },
      };
    },
  });
}

async function readJson(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error('body too large');
  }
  return JSON.parse(body || '{}');
}

let issuer;
let handler;

const server = http.createServer(async (req, res) => {
  if (req.url === '/__control/keys' && req.method === 'POST') {
    try {
      const { publish, sign } = await readJson(req);
      if (!Array.isArray(publish) || publish.length === 0) throw new Error('publish: a non-empty list of key names');
      handler = build(issuer, publish, sign ?? publish[0]).callback();
      const keys = publish.map((kid) => {
        const { d, p, q, dp, dq, qi, ...pub } = privateKey(kid);
        return pub;
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys, sign: sign ?? publish[0] }));
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(String(err.message ?? err));
    }
    return;
  }
  handler(req, res);
});

server.listen(options.port, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  handler = build(issuer, options.publish, options.sign).callback();
  process.stdout.write(`listening ${issuer}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
// A test harness that dies without cleaning up must not leave the provider behind.
if (options.exitWithStdin) {
  process.stdin.on('close', () => process.exit(0));
  process.stdin.resume();
}
