package main

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// browserClient keeps cookies, follows redirects and asks for pages as a
// browser does (Accept: text/html).
func browserClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
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
func signIn(site, user, password string) string {
	c := browserClient()
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
	u, _ := url.Parse(site)
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

// expect makes one request as the load generator will and checks the
// answer, so a scenario never measures the wrong thing fast.
func expect(u string, headers []string, status int, bodyPrefix string) {
	req, _ := http.NewRequest("GET", u, nil)
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		if strings.EqualFold(name, "Host") {
			req.Host = value
			continue
		}
		req.Header.Set(name, value)
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		fatalf("check %s: %v", u, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status || !strings.HasPrefix(string(body), bodyPrefix) {
		fatalf("check %s: want %d %q, got %d %.200q", u, status, bodyPrefix, resp.StatusCode, body)
	}
}
