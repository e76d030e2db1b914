// A real third-party OpenID Connect provider for tests: npm's oidc-provider
// (panva), configured with one confidential client whose only redirect URI
// is the one given, its development login and consent pages, and users
// whose claims come from the login name. Run by nodeissuer.go:
//   node issuer.mjs <port> <client_id> <client_secret> <redirect_uri> <token_ttl_seconds>
// A token TTL other than 0 makes access and ID tokens live that long and
// gives a refresh token with every sign-in.
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectURI, ttlArg] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const tokenTTL = Number(ttlArg || 0);
const shortLived = tokenTTL > 0 ? {
  ttl: { AccessToken: tokenTTL, IdToken: tokenTTL },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
} : {};

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectURI],
    grant_types: tokenTTL > 0 ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
    response_types: ['code'],
  }],
  // Anyone may sign in with any password; claims follow from the name.
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({
      sub: id,
      email: `${id}@example.com`,
      email_verified: true,
      preferred_username: id,
      name: id,
      groups: id.startsWith('ops-') ? ['ops'] : ['guests'],
    }),
  }),
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name', 'groups'],
  },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['outpost-test-cookie-key'] },
  ...shortLived,
});
// Its warnings about development settings are expected here.
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.listen(Number(port), '127.0.0.1', () => console.log(`listening ${issuer}`));
