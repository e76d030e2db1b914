package devcore

import (
	"os"
	"regexp"
	"testing"
)

// The example in docs/devcore.md must be a configuration the devcore loads.
func TestDocsExampleLoads(t *testing.T) {
	b, err := os.ReadFile("../../docs/devcore.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("no yaml example in docs/devcore.md")
	}
	cfg, err := ParseConfig(m[1])
	if err != nil {
		t.Fatalf("the documented example does not load: %v", err)
	}
	if len(cfg.Outposts) != 1 || len(cfg.Providers) != 1 || len(cfg.Users) != 1 {
		t.Errorf("example parsed to %+v", cfg)
	}
	// The second example: an issuer for standalone outposts.
	all := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(b, -1)
	if len(all) < 2 {
		t.Fatal("no issuer example in docs/devcore.md")
	}
	cfg, err = ParseConfig(all[1][1])
	if err != nil {
		t.Fatalf("the documented issuer example does not load: %v", err)
	}
	if len(cfg.Outposts) != 0 || signingAlg(cfg, &cfg.Providers[0]) != "RS256" {
		t.Errorf("issuer example: %d outposts, signs %s", len(cfg.Outposts), signingAlg(cfg, &cfg.Providers[0]))
	}
}
