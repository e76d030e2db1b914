package main

import (
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// runWebsocket opens cfg.conns websockets to url (with header) and has each
// send a 64-byte message and wait for its echo, over and over, for d. It
// reports round trips per second and their p50/p99.
func runWebsocket(cfg config, url string, header http.Header, d time.Duration) result {
	dialer := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conns := make([]*websocket.Conn, cfg.conns)
	for i := range conns {
		c, resp, err := dialer.Dial(url, header)
		if err != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			fatalf("websocket %s: %v (status %d)", url, err, status)
		}
		conns[i] = c
	}
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = 'a' + byte(i%26)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []time.Duration
		failures atomic.Int64
	)
	end := time.Now().Add(d)
	startAt := time.Now()
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			lat := make([]time.Duration, 0, 1<<16)
			for time.Now().Before(end) {
				t0 := time.Now()
				if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
					failures.Add(1)
					return
				}
				if _, got, err := c.ReadMessage(); err != nil || len(got) != len(msg) {
					failures.Add(1)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	took := time.Since(startAt)
	slices.Sort(all)
	r := result{errors: failures.Load(), rps: float64(len(all)) / took.Seconds()}
	if len(all) > 0 {
		r.p50 = all[len(all)/2]
		r.p99 = all[len(all)*99/100]
	}
	return r
}
