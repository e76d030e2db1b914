package session

// recordDict is the DEFLATE preset dictionary of session records: what
// every session's body has in common, so that each body stores only what is
// its own. It is the shape of authentik's (and the devcore's) tokens and
// claims without any deployment's values: JWT headers, claim names in
// encoding/json's order, authentik's fixed values and default scopes.
// Records live only in this process, so the dictionary may change between
// versions; a better one only makes records smaller, never different.
var recordDict = []byte(
	`{"alg":"ES256","kid":"","typ":"JWT"}{"alg":"RS256","kid":"","typ":"JWT"}{"alg":"HS256","typ":"JWT"}` +
		`"http://schemas.openid.net/event/backchannel-logout","at_hash":"","c_hash":"","jti":"","client_id":"",` +
		`"phone_number":"","locale":"en","zoneinfo":"","updated_at":1700000000,"picture":"https://",` +
		`{"acr":"goauthentik.io/providers/oauth2/default","ak_proxy":{"is_superuser":false,"user_attributes":` +
		`{"additionalHeaders":{},"settings":{"locale":"en"},"goauthentik.io/user/sources":[]}},"amr":["pwd","mfa"],` +
		`"aud":"","auth_time":1700000000,"azp":"","email":"@example.com","email_verified":true,` +
		`"entitlements":[],"exp":1700000000,"given_name":"","groups":["authentik Admins"],"iat":1700000000,` +
		`"iss":"https://authentik./application/o//","name":"","nickname":"","nonce":"","preferred_username":"",` +
		`"roles":[],"scope":"openid email profile entitlements ak_proxy offline_access","sid":"","sub":"","uid":""}`)
