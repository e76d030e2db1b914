package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestStateRoundTrip(t *testing.T) {
	raw, err := signState("secret-one-0123456789", "app", loginState{SID: "attempt", Redirect: "https://a.example.com/x?y=1"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := parseState("secret-one-0123456789", "app", raw)
	if err != nil {
		t.Fatal(err)
	}
	if st.SID != "attempt" || st.Redirect != "https://a.example.com/x?y=1" || len(st.State) < 40 {
		t.Errorf("state: %+v", st)
	}
}

func TestStateRejections(t *testing.T) {
	good, _ := signState("secret-one-0123456789", "app", loginState{SID: "attempt"})
	mk := func(key []byte, alg jose.SignatureAlgorithm, c loginState) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := jwt.Signed(s).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	now := time.Now()
	valid := loginState{Claims: jwt.Claims{Issuer: stateIssuer("app"), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}, SID: "a"}
	expired := valid
	expired.Expiry = jwt.NewNumericDate(now.Add(-time.Hour))
	otherIss := valid
	otherIss.Issuer = stateIssuer("other")
	noExp := valid
	noExp.Expiry = nil
	parts := strings.Split(good, ".")
	if _, err := parseState("secret-one-0123456789", "app", mk(stateKey("secret-one-0123456789"), jose.HS256, valid)); err != nil {
		t.Fatalf("the control case must pass: %v", err)
	}
	cases := map[string]string{
		"wrong secret":      mk(stateKey("secret-two-0123456789"), jose.HS256, valid),
		"raw secret as key": mk([]byte("secret-one-0123456789secret-one-0123456789"), jose.HS256, valid),
		"expired":           mk(stateKey("secret-one-0123456789"), jose.HS256, expired),
		"other client":      mk(stateKey("secret-one-0123456789"), jose.HS256, otherIss),
		"no expiry":         mk(stateKey("secret-one-0123456789"), jose.HS256, noExp),
		"HS512":             mk(append(stateKey("secret-one-0123456789"), stateKey("x")...), jose.HS512, valid),
		"alg none":          "eyJhbGciOiJub25lIn0." + parts[1] + ".",
		"tampered payload":  parts[0] + "." + parts[1] + "x." + parts[2],
		"garbage":           "not-a-jwt",
		"empty":             "",
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := parseState("secret-one-0123456789", "app", raw); err == nil {
				t.Errorf("%s: accepted", name)
			}
		})
	}
}
