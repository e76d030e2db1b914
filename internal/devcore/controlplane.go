package devcore

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/outpost-dev/outpost/outpostapi"
)

// controlPlane serves the outpost-facing REST API and websocket, and keeps
// what the core knows about connected outpost instances.
type controlPlane struct {
	s *Server

	mu      sync.Mutex
	closing bool
	conns   map[*wsConn]struct{}
	// instances: outpost pk → instance id → what it last said.
	instances map[string]map[string]*instanceState
	events    []statusEvent // oldest first, at most maxEvents
	// wg counts live websocket connections, so shutdown can wait for them.
	wg sync.WaitGroup

	// helloTTL: an instance counts as connected while its last message is
	// at most this old (authentik caches the state for 10 s × 1.5).
	helloTTL time.Duration
	// closeWait bounds how long a closing handshake may take.
	closeWait time.Duration

	// lists keeps rendered list responses of the configuration in force;
	// warming counts the goroutines filling it after a change.
	lists   listCache
	warming sync.WaitGroup
}

// instanceState is one outpost instance as the core sees it.
type instanceState struct {
	lastSeen time.Time
	// hello is the merge of every HELLO's args; replaced, never mutated, so
	// a status snapshot can hold it without the lock.
	hello map[string]any
}

const (
	maxEvents = 100
	// pruneAfter drops instances that disconnected this long ago.
	pruneAfter = 10 * time.Minute
)

// Frames the core sends (spec §2.2, §19).
var (
	frameACK           = []byte(`{"instruction":0,"args":{}}`)
	frameTriggerUpdate = []byte(`{"instruction":2,"args":{}}`)
)

// sessionEndFrame is SESSION_END (4), as cores since 2025.8 send it.
func sessionEndFrame(sessionID string) []byte {
	type args struct {
		Type      string `json:"type"`
		SessionID string `json:"session_id"`
	}
	return mustFrame(outpostapi.InstructionSessionEnd, args{"event.session.end", sessionID})
}

// legacyLogoutFrame is PROVIDER_SPECIFIC (3) with sub_type logout, the form
// cores before 2025.8 used for the same thing.
func legacyLogoutFrame(sessionID string) []byte {
	type args struct {
		Type      string `json:"type"`
		SubType   string `json:"sub_type"`
		SessionID string `json:"session_id"`
	}
	return mustFrame(outpostapi.InstructionProviderSpecific, args{"event.provider.specific", "logout", sessionID})
}

// mustFrame marshals a frame whose args are a struct of strings, which
// cannot fail; the struct keeps the key order of the reference.
func mustFrame(instruction int, args any) []byte {
	b, err := json.Marshal(struct {
		Instruction int `json:"instruction"`
		Args        any `json:"args"`
	}{instruction, args})
	if err != nil {
		panic(err)
	}
	return b
}

func newControlPlane(s *Server) *controlPlane {
	c := &controlPlane{
		s:         s,
		conns:     map[*wsConn]struct{}{},
		instances: map[string]map[string]*instanceState{},
		helloTTL:  15 * time.Second,
		closeWait: 2 * time.Second,
	}
	c.lists.reset(s.config())
	return c
}

func (c *controlPlane) routes(mux *http.ServeMux) {
	mux.HandleFunc("/api/v3/", c.serveAPI)
	mux.HandleFunc("/ws/outpost/", c.serveWebsocket)
	mux.HandleFunc("/api/devcore/status", c.s.adminOnly(c.serveStatus))
	mux.HandleFunc("/api/devcore/session-end", c.s.adminOnly(c.serveSessionEnd))
	mux.HandleFunc("/api/devcore/trigger-update", c.s.adminOnly(c.serveTriggerUpdate))
}

// broadcastSessionEnd sends SESSION_END with sessionID (hex sha256 of the
// core session key) to every connected outpost instance.
func (c *controlPlane) broadcastSessionEnd(sessionID string) {
	c.sendAll(sessionEndFrame(sessionID), nil)
}

// broadcastLegacyLogout sends the pre-2025.8 logout (PROVIDER_SPECIFIC,
// sub_type logout) to every connected instance and returns how many it
// reached; those cores sent it to proxy outposts only, which all devcore
// outposts are.
func (c *controlPlane) broadcastLegacyLogout(sessionID string) int {
	return c.sendAll(legacyLogoutFrame(sessionID), nil)
}

// triggerUpdate sends TRIGGER_UPDATE to the instances of outpost pk, or of
// every outpost when pk is empty, and returns how many connections it
// reached.
func (c *controlPlane) triggerUpdate(pk string) int {
	return c.sendAll(frameTriggerUpdate, func(k *wsConn) bool { return pk == "" || k.outpost == pk })
}

// sendAll queues frame on every open connection that match accepts (nil:
// all) and returns how many it was queued on.
func (c *controlPlane) sendAll(frame []byte, match func(*wsConn) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k := range c.conns {
		if (match == nil || match(k)) && k.enqueue(frame) {
			n++
		}
	}
	return n
}

// configChanged runs after next replaced old: outposts whose view changed
// get TRIGGER_UPDATE; connections that next no longer authorizes are closed.
func (c *controlPlane) configChanged(old, next *Config) {
	if bases := c.lists.reset(next); len(bases) > 0 {
		c.mu.Lock()
		if !c.closing {
			c.warming.Go(func() { c.lists.warm(next, bases) })
		}
		c.mu.Unlock()
	}
	changed := map[string]bool{}
	for i := range next.Outposts {
		o := &next.Outposts[i]
		if old == nil {
			changed[o.PK] = true
			continue
		}
		prev := old.outpostByPK(o.PK)
		if prev == nil || !bytes.Equal(outpostDigest(old, prev), outpostDigest(next, o)) {
			changed[o.PK] = true
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.conns {
		o := next.outpostByPK(k.outpost)
		if o == nil || o.Token != k.token {
			k.log.Info("closing outpost websocket: outpost removed or its token changed")
			k.close(websocket.ClosePolicyViolation, "outpost removed or its token changed")
			continue
		}
		if changed[k.outpost] {
			k.enqueue(frameTriggerUpdate)
		}
	}
}

// outpostDigest summarises everything outpost o can read from the API, so
// that a reload which changes nothing it sees sends it nothing.
func outpostDigest(cfg *Config, o *OutpostConfig) []byte {
	// The OIDC URLs depend on the caller's Host; any fixed base compares
	// configurations fairly.
	const base = "http://devcore.invalid"
	view := struct {
		Outpost   apiOutpost
		Providers []outpostapi.ProxyOutpostConfig
		Certs     []apiCertificate
	}{Outpost: outpostObject(cfg, o)}
	for _, p := range cfg.providersOf(o) {
		view.Providers = append(view.Providers, proxyOutpostConfig(cfg, p, base))
		if p.Certificate != "" {
			view.Certs = append(view.Certs, certificateObject(&cfg.Certificates[cfg.certNameIdx[p.Certificate]]))
		}
	}
	b, err := json.Marshal(view)
	if err != nil {
		// Unreachable for a checked Config; treat as changed.
		return nil
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

// register adds a new connection unless the core is closing or the
// configuration in force no longer lets its token open it. The check is
// repeated here, under the lock configChanged takes, so that a swap between
// handshake and registration cannot leave a stale connection open.
func (c *controlPlane) register(k *wsConn) (ok bool, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false, "devcore shutting down"
	}
	o := c.s.config().outpostByPK(k.outpost)
	if o == nil || o.Token != k.token {
		return false, "outpost removed or its token changed"
	}
	c.conns[k] = struct{}{}
	c.wg.Add(1)
	return true, ""
}

func (c *controlPlane) unregister(k *wsConn) {
	c.mu.Lock()
	delete(c.conns, k)
	c.mu.Unlock()
	c.wg.Done()
}

// seen records a message from k's instance; args of a HELLO are merged into
// what it said before (authentik keeps unknown keys the same way).
func (c *controlPlane) seen(k *wsConn, instruction int, args map[string]any) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	byInstance := c.instances[k.outpost]
	if byInstance == nil {
		byInstance = map[string]*instanceState{}
		c.instances[k.outpost] = byInstance
	}
	st := byInstance[k.instance]
	if st == nil {
		c.pruneLocked(k.outpost, now)
		st = &instanceState{hello: map[string]any{}}
		byInstance[k.instance] = st
	}
	st.lastSeen = now
	if instruction == outpostapi.InstructionHello {
		merged := make(map[string]any, len(st.hello)+len(args))
		for key, v := range st.hello {
			merged[key] = v
		}
		for key, v := range args {
			merged[key] = v
		}
		st.hello = merged
	}
}

// pruneLocked forgets instances of outpost pk that have no connection and
// were last seen long ago, so reconnecting clients with fresh uuids do not
// grow the table forever.
func (c *controlPlane) pruneLocked(pk string, now time.Time) {
	open := c.openInstancesLocked()
	for id, st := range c.instances[pk] {
		if !open[[2]string{pk, id}] && now.Sub(st.lastSeen) > pruneAfter {
			delete(c.instances[pk], id)
		}
	}
}

// openInstancesLocked is the set of (outpost pk, instance id) with an open
// websocket.
func (c *controlPlane) openInstancesLocked() map[[2]string]bool {
	open := map[[2]string]bool{}
	for k := range c.conns {
		open[[2]string{k.outpost, k.instance}] = true
	}
	return open
}

// shutdown closes every websocket with 1012 and waits for the closing
// handshakes, cutting the connections that do not answer in time.
func (c *controlPlane) shutdown() {
	c.mu.Lock()
	c.closing = true
	conns := make([]*wsConn, 0, len(c.conns))
	for k := range c.conns {
		conns = append(conns, k)
	}
	c.mu.Unlock()
	for _, k := range conns {
		k.close(websocket.CloseServiceRestart, "devcore shutting down")
	}
	// Warming stops at its next page once the cache belongs to no
	// configuration.
	c.lists.reset(nil)
	c.warming.Wait()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(c.closeWait):
	}
	for _, k := range conns {
		_ = k.ws.Close()
	}
	<-done
}
