package outpostapi

import (
	"bytes"
	"context"
	"crypto/fips140"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Control channel limits that are not timing knobs of CoreOptions.
const (
	// wsWriteWait bounds one frame write; a core that cannot take a HELLO
	// in this time is as good as gone.
	wsWriteWait = 10 * time.Second
	// wsMaxFrame caps incoming frames: core messages are a few hundred bytes.
	wsMaxFrame = 1 << 20
)

// DecodeMessage parses one control-channel frame. It accepts only a JSON
// object with an integer "instruction"; "args" must be an object, and a
// missing or null args becomes an empty one. Unknown keys are ignored.
func DecodeMessage(b []byte) (WebsocketMessage, error) {
	var raw struct {
		Instruction *int            `json:"instruction"`
		Args        json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return WebsocketMessage{}, fmt.Errorf("not a message object: %v", err)
	}
	if raw.Instruction == nil {
		return WebsocketMessage{}, errors.New("no instruction")
	}
	msg := WebsocketMessage{Instruction: *raw.Instruction, Args: map[string]any{}}
	args := bytes.TrimSpace(raw.Args)
	if len(args) == 0 || bytes.Equal(args, []byte("null")) {
		return msg, nil
	}
	if args[0] != '{' {
		return WebsocketMessage{}, errors.New("args is not an object")
	}
	if err := json.Unmarshal(args, &msg.Args); err != nil {
		return WebsocketMessage{}, fmt.Errorf("args: %v", err)
	}
	if msg.Args == nil {
		msg.Args = map[string]any{}
	}
	return msg, nil
}

// websocketURL is ws(s)://host<path>ws/outpost/<pk>/ with AUTHENTIK_HOST's
// own query, instance_uuid and, on reconnects, attempt=n (spec §2.1).
func websocketURL(host *url.URL, pk, instanceUUID string, attempt int) string {
	u := *host
	u.Scheme = "ws"
	if host.Scheme == "https" {
		u.Scheme = "wss"
	}
	u.Path = host.Path + "ws/outpost/" + pk + "/"
	u.RawPath = ""
	q := host.Query()
	q.Set("instance_uuid", instanceUUID)
	if attempt > 0 {
		q.Set("attempt", strconv.Itoa(attempt))
	}
	u.RawQuery = q.Encode()
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// helloArgs are the HELLO args of spec §2.2; every key is always sent
// (hostname only when the OS knows it).
func helloArgs(version, buildHash, instanceUUID string) map[string]any {
	args := map[string]any{
		"version":        version,
		"buildHash":      buildHash,
		"uuid":           instanceUUID,
		"golangVersion":  runtime.Version(),
		"opensslEnabled": false,
		"opensslVersion": "",
		"fipsEnabled":    fips140.Enabled(),
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		args["hostname"] = h
	}
	return args
}

// jitter draws a delay from [d/2, d], so that many outposts reconnecting to
// a restarted core do not arrive in lockstep.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// controlChannel is the websocket to the core (spec §2): one goroutine runs
// connect → serve → backoff → reconnect, so there is never more than one
// reconnect loop.
type controlChannel struct {
	host         *url.URL
	token        string
	userAgent    string
	outpostPK    string
	instanceUUID string
	hello        map[string]any
	opts         CoreOptions
	log          *slog.Logger
	dialer       *websocket.Dialer

	// onConnection sees state changes only; onUp runs after every
	// successful (re)connect; onMessage sees every valid frame but ACK.
	onConnection func(bool)
	onUp         func()
	onMessage    func(WebsocketMessage)

	running   atomic.Bool
	connected bool // owned by the run goroutine
}

func newControlChannel(core CoreEndpoint, pk string, opts CoreOptions, log *slog.Logger) *controlChannel {
	return &controlChannel{
		host:         core.Host,
		token:        core.Token,
		userAgent:    UserAgent(opts.Version, opts.BuildHash),
		outpostPK:    pk,
		instanceUUID: opts.InstanceUUID,
		hello:        helloArgs(opts.Version, opts.BuildHash, opts.InstanceUUID),
		opts:         opts,
		log:          log,
		dialer: &websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: opts.HandshakeTimeout,
			NetDialContext:   (&net.Dialer{Timeout: opts.HandshakeTimeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:  &tls.Config{InsecureSkipVerify: core.Insecure, MinVersion: tls.VersionTLS12}, //nolint:gosec // AUTHENTIK_INSECURE asks for it
		},
		onConnection: func(bool) {},
		onUp:         func() {},
		onMessage:    func(WebsocketMessage) {},
	}
}

func (c *controlChannel) setConnected(v bool) {
	if c.connected == v {
		return
	}
	c.connected = v
	c.onConnection(v)
}

// run keeps the channel up until ctx is done, then closes it with 1000.
func (c *controlChannel) run(ctx context.Context) {
	if !c.running.CompareAndSwap(false, true) {
		c.log.Error("websocket loop already running; not starting another")
		return
	}
	defer c.running.Store(false)
	defer c.setConnected(false)

	attempt := 0 // attempts since the last good connection; 0 = the first
	backoff := c.opts.BackoffMin
	for {
		conn, err := c.dial(ctx, attempt)
		if err == nil {
			attempt = 0
			start := time.Now()
			err = c.serve(ctx, conn)
			if ctx.Err() != nil {
				return
			}
			// A connection that lived through a HELLO round was a good one:
			// the next failure starts the backoff over.
			if time.Since(start) >= c.opts.HelloInterval {
				backoff = c.opts.BackoffMin
			}
			c.log.Warn("websocket to the core lost; reconnecting", "error", err)
		} else {
			if ctx.Err() != nil {
				return
			}
			lvl := slog.LevelWarn
			if errors.Is(err, ErrTokenRejected) {
				lvl = slog.LevelError
			}
			c.log.Log(ctx, lvl, "websocket connection to the core failed", "error", err, "attempt", attempt)
		}
		delay := jitter(backoff)
		backoff = min(backoff*2, c.opts.BackoffMax)
		attempt++
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

func (c *controlChannel) dial(ctx context.Context, attempt int) (*websocket.Conn, error) {
	u := websocketURL(c.host, c.outpostPK, c.instanceUUID, attempt)
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+c.token)
	hdr.Set("User-Agent", c.userAgent)
	conn, resp, err := c.dialer.DialContext(ctx, u, hdr)
	if err != nil {
		path := c.host.Path + "ws/outpost/" + c.outpostPK + "/"
		if errors.Is(err, websocket.ErrBadHandshake) && resp != nil {
			// The body is short and gorilla has buffered what it read.
			b, _ := io.ReadAll(io.LimitReader(resp.Body, bodyExcerptBytes))
			return nil, &HTTPError{Method: "GET", Path: path, StatusCode: resp.StatusCode, Body: excerpt(b, c.token)}
		}
		return nil, fmt.Errorf("websocket %s: %w", path, err)
	}
	return conn, nil
}

// serve runs one connection: HELLO now and every HelloInterval, frames
// dispatched as they come, and a read deadline that declares the core gone
// after ReadTimeout of silence (it ACKs every HELLO and answers pings).
func (c *controlChannel) serve(ctx context.Context, conn *websocket.Conn) error {
	defer conn.Close()
	conn.SetReadLimit(wsMaxFrame)
	extend := func() { conn.SetReadDeadline(time.Now().Add(c.opts.ReadTimeout)) }
	extend()
	conn.SetPongHandler(func(string) error { extend(); return nil })
	conn.SetPingHandler(func(data string) error {
		extend()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(wsWriteWait))
		var ne net.Error
		if errors.Is(err, websocket.ErrCloseSent) || (errors.As(err, &ne) && ne.Timeout()) {
			return nil
		}
		return err
	})

	readErr := make(chan error, 1)
	go func() {
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			extend()
			msg, err := DecodeMessage(b)
			if err != nil {
				c.log.Warn("ignoring malformed message from the core", "error", err, "frame", excerptBytes(b, 200))
				continue
			}
			if msg.Instruction != InstructionACK {
				c.onMessage(msg)
			}
		}
	}()
	fail := func(err error) error {
		conn.Close()
		<-readErr
		return err
	}

	if err := c.sendHello(conn); err != nil {
		return fail(err)
	}
	c.log.Info("websocket to the core connected", "outpost", c.outpostPK)
	c.setConnected(true)
	c.onUp()

	ticker := time.NewTicker(c.opts.HelloInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			c.close(conn, readErr)
			return ctx.Err()
		case err := <-readErr:
			c.setConnected(false)
			return err
		case <-ticker.C:
			if err := c.sendHello(conn); err != nil {
				c.setConnected(false)
				return fail(err)
			}
		}
	}
}

func (c *controlChannel) sendHello(conn *websocket.Conn) error {
	b, err := json.Marshal(WebsocketMessage{Instruction: InstructionHello, Args: c.hello})
	if err != nil {
		return err
	}
	conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
	if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("sending HELLO: %w", err)
	}
	// The pong proves the path is alive even to a core slow to ACK.
	if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteWait)); err != nil {
		return fmt.Errorf("sending ping: %w", err)
	}
	return nil
}

// close sends close 1000 and waits briefly for the core's reply, which ends
// the reader.
func (c *controlChannel) close(conn *websocket.Conn, readErr <-chan error) {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if err := conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.opts.CloseWait)); err != nil {
		conn.Close()
		<-readErr
		return
	}
	select {
	case <-readErr:
	case <-time.After(c.opts.CloseWait):
		conn.Close()
		<-readErr
	}
}

func excerptBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}
