package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// For any Upgrade and Connection lines a client sends, at most one
// protocol is left, an allowed one, and only with Connection: upgrade;
// HTTP2-Settings goes unless h2c itself is allowed and kept.
func FuzzUpgradeRequest(f *testing.F) {
	f.Add("websocket", "Upgrade", "HTTP2-Settings: x")
	f.Add("h2c", "Upgrade, HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")
	f.Add("WebSocket, h2c", "keep-alive, upgrade", "")
	f.Add("SPDY/3.1\ntcp", "upgrade", "")
	f.Add(" , ,websocket/13", "UPGRADE", "")
	allowed := []string{"websocket", "SPDY/3.1"}
	f.Fuzz(func(t *testing.T, upgrade, connection, settings string) {
		h := http.Header{}
		for _, line := range strings.Split(upgrade, "\n") {
			h.Add("Upgrade", line)
		}
		h.Set("Connection", connection)
		if settings != "" {
			h.Set("Http2-Settings", settings)
		}
		proto, _ := upgradeRequest(h, allowed)
		left := h.Values("Upgrade")
		switch {
		case proto == "" && len(left) != 0:
			t.Fatalf("no protocol kept, but Upgrade %q left", left)
		case proto != "" && (len(left) != 1 || left[0] != proto):
			t.Fatalf("kept %q, but Upgrade is %q", proto, left)
		case proto != "" && !upgradeAllowed(proto, allowed):
			t.Fatalf("kept %q, which is not allowed", proto)
		case proto != "" && !strings.Contains(strings.ToLower(connection), "upgrade"):
			t.Fatalf("kept %q without Connection: upgrade (%q)", proto, connection)
		case h.Get("Http2-Settings") != "":
			t.Fatalf("HTTP2-Settings left with %q", proto)
		case strings.ContainsAny(proto, ", \t"):
			t.Fatalf("kept a list, not one protocol: %q", proto)
		}
	})
}
