package devcore

import (
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// wsWriteWait bounds one frame write; a peer that does not read for
	// that long is gone as far as the core is concerned.
	wsWriteWait = 10 * time.Second
	// wsSendQueue is how many frames may wait for a slow reader before the
	// connection is dropped (broadcasts never block on one outpost).
	wsSendQueue = 64
	// wsMaxMessage bounds an incoming frame; HELLOs are a few hundred bytes.
	wsMaxMessage = 1 << 20
)

// wsConn is one outpost websocket. gorilla/websocket allows one writer at a
// time, so every data frame goes through send to the single writeLoop;
// close frames are written by writeLoop too, as its last frame.
type wsConn struct {
	ws       *websocket.Conn
	outpost  string // outpost pk
	token    string // the token it authenticated with, to notice a change
	instance string // instance_uuid, or a generated channel name
	log      *slog.Logger

	send       chan []byte
	quit       chan struct{}
	quitOnce   sync.Once
	closeFrame []byte // set before quit is closed; nil: stop without a frame
	writerDone chan struct{}
}

func newWSConn(ws *websocket.Conn, outpost, token, instance string, log *slog.Logger) *wsConn {
	return &wsConn{
		ws:         ws,
		outpost:    outpost,
		token:      token,
		instance:   instance,
		log:        log,
		send:       make(chan []byte, wsSendQueue),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
}

// enqueue queues a text frame. A connection whose queue is full is closed
// rather than allowed to stall the broadcaster.
func (k *wsConn) enqueue(frame []byte) bool {
	select {
	case <-k.quit:
		return false
	default:
	}
	select {
	case k.send <- frame:
		return true
	default:
		k.log.Warn("outpost websocket not reading; closing it")
		k.close(websocket.CloseTryAgainLater, "too many unread messages")
		return false
	}
}

// close makes the writer send a close frame with code and reason and stop.
// Only the first close or stop counts.
func (k *wsConn) close(code int, reason string) {
	// A close frame's payload is at most 125 bytes: 2 for the code.
	if len(reason) > 123 {
		reason = reason[:123]
	}
	k.stop(websocket.FormatCloseMessage(code, reason))
}

func (k *wsConn) stop(frame []byte) {
	k.quitOnce.Do(func() {
		k.closeFrame = frame
		close(k.quit)
	})
}

func (k *wsConn) writeLoop() {
	defer close(k.writerDone)
	for {
		select {
		case b := <-k.send:
			_ = k.ws.SetWriteDeadline(time.Now().Add(wsWriteWait))
			if err := k.ws.WriteMessage(websocket.TextMessage, b); err != nil {
				k.log.Debug("outpost websocket write failed", "error", err)
				k.stop(nil)
				// Wake the reader so the connection is cleaned up.
				_ = k.ws.Close()
				return
			}
		case <-k.quit:
			if k.closeFrame != nil {
				_ = k.ws.WriteControl(websocket.CloseMessage, k.closeFrame, time.Now().Add(wsWriteWait))
			}
			return
		}
	}
}
