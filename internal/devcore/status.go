package devcore

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"
)

// adminAllowed reports whether r may use the devcore admin endpoints: with
// admin_token set only that bearer token, otherwise any outpost's token.
func (s *Server) adminAllowed(r *http.Request) bool {
	token, ok := apiBearer(r)
	if !ok {
		return false
	}
	cfg := s.config()
	if cfg.AdminToken != "" {
		return subtle.ConstantTimeCompare([]byte(token), []byte(cfg.AdminToken)) == 1
	}
	return cfg.outpostForToken(token) != nil
}

// adminOnly wraps an admin endpoint: 403 JSON unless adminAllowed.
func (s *Server) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.adminAllowed(r) {
			apiError(w, http.StatusForbidden, "admin endpoint: send Authorization: Bearer <admin_token, or an outpost token when none is set>")
			return
		}
		h(w, r)
	}
}

// statusView is GET /api/devcore/status.
type statusView struct {
	Outposts []statusOutpost `json:"outposts"`
	Events   []statusEvent   `json:"events"` // oldest first, the last 100
}

type statusOutpost struct {
	PK        string           `json:"pk"`
	Name      string           `json:"name"`
	Instances []statusInstance `json:"instances"`
}

type statusInstance struct {
	UUID string `json:"uuid"`
	// Connected: an open websocket and a message within the last 15 s, as
	// authentik's admin UI shows an outpost healthy.
	Connected   bool           `json:"connected"`
	LastSeen    string         `json:"last_seen"` // RFC 3339
	Connections int            `json:"connections"`
	Hello       map[string]any `json:"hello"`
}

func (c *controlPlane) status() statusView {
	cfg := c.s.config()
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	open := map[[2]string]int{}
	for k := range c.conns {
		open[[2]string{k.outpost, k.instance}]++
	}
	v := statusView{Outposts: []statusOutpost{}, Events: slices.Clone(c.events)}
	if v.Events == nil {
		v.Events = []statusEvent{}
	}
	for _, o := range cfg.Outposts {
		so := statusOutpost{PK: o.PK, Name: o.Name, Instances: []statusInstance{}}
		for id, st := range c.instances[o.PK] {
			n := open[[2]string{o.PK, id}]
			so.Instances = append(so.Instances, statusInstance{
				UUID:        id,
				Connected:   n > 0 && now.Sub(st.lastSeen) <= c.helloTTL,
				LastSeen:    st.lastSeen.UTC().Format(time.RFC3339Nano),
				Connections: n,
				Hello:       st.hello,
			})
		}
		slices.SortFunc(so.Instances, func(a, b statusInstance) int { return strings.Compare(a.UUID, b.UUID) })
		v.Outposts = append(v.Outposts, so)
	}
	return v
}

func (c *controlPlane) serveStatus(w http.ResponseWriter, r *http.Request) {
	if apiMethods(w, r, http.MethodGet) {
		apiJSON(w, http.StatusOK, c.status())
	}
}

// serveSessionEnd is POST /api/devcore/session-end {"session_id": "...",
// "legacy": false}: it broadcasts SESSION_END (legacy: the pre-2025.8
// PROVIDER_SPECIFIC logout) and answers {"sent": <connections reached>}.
func (c *controlPlane) serveSessionEnd(w http.ResponseWriter, r *http.Request) {
	if !apiMethods(w, r, http.MethodPost) {
		return
	}
	var in map[string]any
	if err := wsDecodeOne(apiReadBody(w, r), &in); err != nil || in == nil {
		apiError(w, http.StatusBadRequest, `body must be {"session_id": "...", "legacy": false}`)
		return
	}
	sid, _ := in["session_id"].(string)
	if sid == "" {
		apiJSON(w, http.StatusBadRequest, map[string][]string{"session_id": {"This field is required."}})
		return
	}
	legacy := false
	if v, present := in["legacy"]; present && v != nil {
		b, ok := v.(bool)
		if !ok {
			apiJSON(w, http.StatusBadRequest, map[string][]string{"legacy": {"Must be a valid boolean."}})
			return
		}
		legacy = b
	}
	var n int
	if legacy {
		n = c.broadcastLegacyLogout(sid)
	} else {
		// broadcastSessionEnd itself reports nothing; same frame, counted.
		n = c.sendAll(sessionEndFrame(sid), nil)
	}
	c.s.log.Info("session end broadcast", "legacy", legacy, "connections", n)
	apiJSON(w, http.StatusOK, map[string]int{"sent": n})
}

// serveTriggerUpdate is POST /api/devcore/trigger-update, optionally with
// {"outpost": "<pk>"}: TRIGGER_UPDATE without a configuration change, for
// tests of an outpost's refresh. Answers {"sent": <connections reached>}.
func (c *controlPlane) serveTriggerUpdate(w http.ResponseWriter, r *http.Request) {
	if !apiMethods(w, r, http.MethodPost) {
		return
	}
	pk := ""
	if body := apiReadBody(w, r); len(strings.TrimSpace(string(body))) > 0 {
		var in map[string]any
		if err := wsDecodeOne(body, &in); err != nil || in == nil {
			apiError(w, http.StatusBadRequest, `body must be empty or {"outpost": "<pk>"}`)
			return
		}
		pk, _ = in["outpost"].(string)
	}
	apiJSON(w, http.StatusOK, map[string]int{"sent": c.triggerUpdate(pk)})
}
