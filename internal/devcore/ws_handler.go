package devcore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/outpost-dev/outpost/outpostapi"
)

// djangoUUID is what Django's <uuid:pk> path converter matches: the dashed,
// lower-case form only.
var djangoUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

var wsUpgrader = websocket.Upgrader{
	HandshakeTimeout: 10 * time.Second,
	ReadBufferSize:   4096,
	WriteBufferSize:  4096,
	// Outposts send no Origin; authorization is the bearer header, which a
	// browser page cannot set on a websocket, so any Origin is harmless.
	CheckOrigin: func(*http.Request) bool { return true },
}

// serveWebsocket is /ws/outpost/<outpost pk>/ (spec §2.1): the bearer token
// must belong to that outpost, else 403 before the upgrade.
func (c *controlPlane) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	pk, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/ws/outpost/"), "/")
	if !ok || !djangoUUID.MatchString(pk) {
		apiError(w, http.StatusNotFound, "Not found.")
		return
	}
	token, _ := apiBearer(r)
	o := c.s.config().outpostForToken(token)
	if o == nil || o.PK != pk {
		// authentik denies the handshake the same way for a bad token, an
		// unknown outpost and another outpost's token.
		apiError(w, http.StatusForbidden, "Access denied.")
		return
	}
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if closing {
		apiError(w, http.StatusServiceUnavailable, "devcore shutting down")
		return
	}
	instance := r.URL.Query().Get("instance_uuid")
	if instance == "" {
		instance = channelName()
	}
	ws, err := wsUpgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered with the error status.
		c.s.log.Debug("outpost websocket upgrade failed", "error", err)
		return
	}
	log := c.s.log.With("outpost", o.Name, "instance", instance, "remote", r.RemoteAddr)
	k := newWSConn(ws, pk, token, instance, log)
	if ok, reason := c.register(k); !ok {
		code := websocket.ClosePolicyViolation
		if reason == "devcore shutting down" {
			code = websocket.CloseServiceRestart
		}
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		_ = ws.Close()
		return
	}
	// A number in the log, 0 for a first connection (no attempt= sent).
	attempt, _ := strconv.Atoi(r.URL.Query().Get("attempt"))
	log.Info("outpost websocket connected", "attempt", attempt)
	go k.writeLoop()
	c.readLoop(k)
}

// channelName stands in for the Channels channel name authentik keys an
// instance by when the outpost sends no instance_uuid.
func channelName() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "specific." + hex.EncodeToString(b)
}

// readLoop reads k until the connection ends, then cleans up. Every valid
// message except an ACK is answered with an ACK; a message of the wrong
// shape closes the connection with 1003 (unsupported data).
func (c *controlPlane) readLoop(k *wsConn) {
	defer func() {
		k.stop(nil)
		_ = k.ws.Close()
		<-k.writerDone
		c.unregister(k)
	}()
	k.ws.SetReadLimit(wsMaxMessage)
	rejected := false
	for {
		typ, data, err := k.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				k.log.Info("outpost websocket closed", "code", ce.Code, "reason", ce.Text)
			} else {
				k.log.Info("outpost websocket ended", "error", err)
			}
			return
		}
		if rejected {
			// Draining until the peer answers our close frame.
			continue
		}
		var ins int
		var args map[string]any
		if typ != websocket.TextMessage {
			err = errors.New("binary frame")
		} else {
			ins, args, err = parseWSMessage(data)
		}
		if err != nil {
			k.log.Warn("invalid message on outpost websocket; closing it", "error", err)
			k.close(websocket.CloseUnsupportedData, "invalid message: "+err.Error())
			// Do not wait forever for a peer that ignores the close.
			_ = k.ws.SetReadDeadline(time.Now().Add(c.closeWait))
			rejected = true
			continue
		}
		if ins == outpostapi.InstructionACK {
			continue
		}
		c.seen(k, ins, args)
		if ins != outpostapi.InstructionHello {
			k.log.Debug("outpost websocket message", "instruction", ins)
		}
		k.enqueue(frameACK)
	}
}
