package session

// recordDict is the DEFLATE preset dictionary of session records: what
// every session's body has in common, so that each body stores only what is
// its own. It is the shape of authentik's (and the devcore's) tokens and
// claims without any deployment's values: JWT headers, claim names in
// encoding/json's order, authentik's fixed values and default scopes.
// Records live only in this process, so the dictionary may change between
// versions; a better one only makes records smaller, never different.
//
// The body it serves has its values taken out (record_values.go), so where
// the claims hold sub, sid, nonce and uid it holds their markers, with the
// indexes a sign-in gives them (sub and sid are the body's first two
// values, then the claims' in encoding/json's order, then a key id), and
// exp's marker. That
// makes most of the claims' text one long match. The most common text is
// last, nearest to the body: DEFLATE spends fewer bits on near matches.
var recordDict = []byte(
	`"http://schemas.openid.net/event/backchannel-logout","at_hash":"` + "\x02\x04" + `","c_hash":"","jti":"",` +
		`"client_id":"","phone_number":"","locale":"en","zoneinfo":"","updated_at":1700000000,"picture":"https://",` +
		`"settings":{"locale":"en"},"goauthentik.io/user/sources":[],"is_superuser":true,` +
		// JWT headers, each after its length in the body (len<<1).
		`6{"alg":"HS256","typ":"JWT"}{"alg":"ES256","kid":"` + "\x00\x04" + `","typ":"JWT"}` +
		`L{"alg":"RS256","kid":"` + "\x00\x04" + `","typ":"JWT"}` +
		`{"acr":"goauthentik.io/providers/oauth2/default","ak_proxy":{"is_superuser":false,"user_attributes":` +
		`{"additionalHeaders":{}}},"amr":["pwd"],"aud":"","auth_time":17,"azp":"","email":"@example.com",` +
		`"email_verified":false,"entitlements":[],"exp":` + "\x03" + `,"given_name":"","groups":[],"iat":17,` +
		`"iss":"https://authentik./application/o//","name":"","nickname":"","nonce":"` + "\x02\x02" + `",` +
		`"preferred_username":"","roles":[],"scope":"openid email profile entitlements ak_proxy offline_access",` +
		`"sid":"` + "\x00\x01" + `","sub":"` + "\x00\x00" + `","uid":"` + "\x00\x03" + `"}` +
		// The body's start: Sub and SID as hex values 0 and 1.
		"\x04\x00\x00\x04\x00\x01")
