// A real OpenID provider for the console's sign-in tests (tests/oidc_support.py starts it): the `oidc-provider`
// package pinned in package-lock.json, with one client, authorization code with PKCE (S256) required, and a small
// table of test accounts whose ID tokens carry the claims the service reads (`org`, `roles`), as a trust's provider
// (Entra ID app roles, Keycloak mappers) puts them there. People sign in through the package's own development login
// form, which takes any password: this is a test fixture, never deployed.
//
// Usage: node provider.mjs [PORT]  (no port, or 0: the kernel picks a free one, so parallel tests never race for it)
// Environment: OIDC_CLIENT_ID, OIDC_REDIRECT_URI (required), OIDC_CLIENT_SECRET (unset: a public client),
// OIDC_CONTROLLER_ORG (default CONTROLLER), OIDC_OTHER_CLIENT_ID (optional: a second client with the same secret, for
// tokens meant for another audience), OIDC_PUBLIC_CLIENT_ID (optional: a public client, PKCE alone).
// Prints "ready <issuer>" once it listens on 127.0.0.1.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { once } from 'node:events';
import process from 'node:process';

import Provider from 'oidc-provider';

const port = Number.parseInt(process.argv[2] ?? '0', 10);
const clientId = process.env.OIDC_CLIENT_ID;
const redirectUri = process.env.OIDC_REDIRECT_URI;
if (!Number.isInteger(port) || !clientId || !redirectUri) {
  console.error('usage: OIDC_CLIENT_ID=... OIDC_REDIRECT_URI=... node provider.mjs PORT');
  process.exit(2);
}
const controller = process.env.OIDC_CONTROLLER_ORG || 'CONTROLLER';

// The login is the account's id; each has the claims its ID token carries.
const ACCOUNTS = {
  guardian: { name: 'Grace Guardian', email: 'grace.guardian@example.nhs.uk', org: controller, roles: ['guardian'] },
  auditor: { name: 'Arthur Auditor', email: 'arthur.auditor@example.nhs.uk', org: controller, roles: ['auditor'] },
  admin: { name: 'Ada Admin', email: 'ada.admin@example.nhs.uk', org: controller, roles: ['admin'] },
  // A partner agency's person: its own organisation, and a guardian role its organisation may not hold.
  agency: { name: 'Aled Agency', email: 'aled.agency@example.org', org: 'AGENCY-A', roles: ['agency', 'guardian'] },
};

function client(id, secret) {
  return {
    client_id: id,
    ...(secret ? { client_secret: secret } : { token_endpoint_auth_method: 'none' }),
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  };
}

const clients = [client(clientId, process.env.OIDC_CLIENT_SECRET)];
if (process.env.OIDC_OTHER_CLIENT_ID) {
  clients.push(client(process.env.OIDC_OTHER_CLIENT_ID, process.env.OIDC_CLIENT_SECRET));
}
if (process.env.OIDC_PUBLIC_CLIENT_ID) {
  clients.push(client(process.env.OIDC_PUBLIC_CLIENT_ID, undefined));
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
// Listen first: the issuer names the port the kernel gave.
const server = createServer();
server.listen(port, '127.0.0.1');
await once(server, 'listening');
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-signing-key', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  // PKCE for every client, public or confidential; the package accepts S256 only.
  pkce: { required: () => true },
  // The service's claims come with the openid scope, as a trust's provider adds them to every ID token it issues.
  claims: { openid: ['sub', 'org', 'roles'], profile: ['name'], email: ['email', 'email_verified'] },
  // Scope claims go into the ID token itself (the console reads the ID token, not the userinfo endpoint).
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) {
      return undefined;
    }
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...account, email_verified: true };
      },
    };
  },
});
provider.on('server_error', (_ctx, error) => console.error('server_error', error));

server.on('request', provider.callback());
console.log(`ready ${issuer}`);
