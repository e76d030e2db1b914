// Package webtest is what tests use to act like a person with a browser:
// a client with a cookie jar, and filling in the devcore's login form.
package webtest

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"testing"
	"time"
)

// Browser is an HTTP client that keeps cookies, follows redirects and
// says what a browser loading a page says (Accept: text/html).
func Browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: Navigating(nil)}
}

// BrowserAccept is the Accept header of a browser's page load.
const BrowserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// Navigating wraps base (nil: the default transport) so that requests
// without an Accept header carry a browser's.
func Navigating(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return navigating{base}
}

type navigating struct{ base http.RoundTripper }

func (n navigating) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Accept") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Accept", BrowserAccept)
	}
	return n.base.RoundTrip(r)
}

var (
	formAction = regexp.MustCompile(`(?i)<form method="post" action="([^"]*)"`)
	hiddenIn   = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// SignIn fills the devcore login form shown in resp and returns the answer
// to posting it (redirects followed).
func SignIn(t testing.TB, c *http.Client, resp *http.Response, user, password string) *http.Response {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formAction.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no login form at %s (%d):\n%s", resp.Request.URL, resp.StatusCode, body)
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"username": {user}, "password": {password}}
	for _, h := range hiddenIn.FindAllSubmatch(body, -1) {
		form.Set(html.UnescapeString(string(h[1])), html.UnescapeString(string(h[2])))
	}
	out, err := c.PostForm(action.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Get asks for u as a browser would (Accept: text/html), with extra
// header name/value pairs.
func Get(t testing.TB, c *http.Client, u string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// ReadBody reads and closes resp's body.
func ReadBody(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(b)
}
