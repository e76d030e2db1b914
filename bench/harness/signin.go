package main

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// browserClient keeps cookies, follows redirects and asks for pages as a
// browser does (Accept: text/html). With dial set, connections to host go
// to dial instead (as curl --resolve does): a second outpost serving the
// same site on another address.
func browserClient(host, dial string) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	if dial != "" {
		d := &net.Dialer{Timeout: 10 * time.Second}
		c.Transport = &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == host {
				addr = dial
			}
			return d.DialContext(ctx, network, addr)
		}}
	}
	return c
}

var (
	formAction = regexp.MustCompile(`(?i)<form method="post" action="([^"]*)"`)
	hiddenIn   = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

func getPage(c *http.Client, u string) *http.Response {
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		fatalf("GET %s: %v", u, err)
	}
	return resp
}

// signIn loads site (through the outpost or nginx), fills the devcore's
// login form, and returns the Cookie header value a signed-in browser sends
// to site afterwards.
func signIn(site, user, password string) string { return signInVia(site, "", user, password) }

// signInVia signs in at site served from the address dial ("": site's own).
func signInVia(site, dial, user, password string) string {
	u, err := url.Parse(site)
	if err != nil {
		fatalf("%v", err)
	}
	c := browserClient(u.Host, dial)
	resp := getPage(c, site+"/")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formAction.FindSubmatch(body)
	if m == nil {
		fatalf("no login form at %s (%d): %.300s", resp.Request.URL, resp.StatusCode, body)
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		fatalf("login form action: %v", err)
	}
	form := url.Values{"username": {user}, "password": {password}}
	for _, h := range hiddenIn.FindAllSubmatch(body, -1) {
		form.Set(html.UnescapeString(string(h[1])), html.UnescapeString(string(h[2])))
	}
	out, err := c.PostForm(action.String(), form)
	if err != nil {
		fatalf("posting the login form: %v", err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if out.StatusCode != 200 || !strings.HasPrefix(string(got), "ok "+user) {
		fatalf("sign-in at %s ended with %d at %s: %.300s", site, out.StatusCode, out.Request.URL, got)
	}
	var parts []string
	for _, ck := range c.Jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// bearerToken gets an access token for clientID from the devcore with an
// app password (client_credentials), as a machine client does.
func bearerToken(core, clientID, user, appPassword string) string {
	resp, err := http.PostForm(core+"/application/o/token/", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {clientID},
		"username": {user}, "password": {appPassword}, "scope": {"openid email profile ak_proxy"},
	})
	if err != nil {
		fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		fatalf("token request: %d %s", resp.StatusCode, body)
	}
	return tok.AccessToken
}

// fetch makes one request as the load generator will (headers as wrk's
// -H, Host included) and returns the status and body; it does not follow
// redirects.
func fetch(u string, headers []string) (int, []byte) {
	req, _ := http.NewRequest("GET", u, nil)
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		if strings.EqualFold(name, "Host") {
			req.Host = value
			continue
		}
		req.Header.Set(name, value)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		fatalf("GET %s: %v", u, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, body
}

// expect makes one request as the load generator will and checks the
// answer, so a scenario never measures the wrong thing fast.
func expect(u string, headers []string, status int, bodyPrefix string) {
	got, body := fetch(u, headers)
	if got != status || !strings.HasPrefix(string(body), bodyPrefix) {
		fatalf("check %s: want %d %q, got %d %.200q", u, status, bodyPrefix, got, body)
	}
}
