package main

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/outpost-dev/outpost/internal/config"
	"github.com/outpost-dev/outpost/proxy"
)

// startTLS opens the HTTPS listeners (AUTHENTIK_LISTEN__HTTPS, spec §15),
// all or none. Each handshake gets the certificate of the provider whose
// external host is the server name, in the configuration dataPlane has in
// force, else a self-signed fallback generated here. The listeners read a
// PROXY header from trusted peers only, before TLS. Serve them like the
// HTTP ones: they hand out TLS connections. conns counts each client's
// connections before the PROXY header and TLS.
func startTLS(env config.Env, dataPlane *proxy.Server, conns *proxy.ConnLimit, log *slog.Logger) ([]net.Listener, error) {
	want := env.Listen.HTTPS
	if len(want) == 0 {
		// Only an Env not made by config.Load has no HTTPS address.
		return nil, nil
	}
	fallback, err := proxy.FallbackCertificate()
	if err != nil {
		return nil, fmt.Errorf("generating the fallback TLS certificate: %w", err)
	}
	certs := proxy.NewCertificates(dataPlane.Snapshot, fallback, log)
	cfg := proxy.TLSConfig(certs.GetCertificate)
	var lns []net.Listener
	for _, addr := range want {
		ln, err := proxy.ListenTLSWith(addr, env.Proxy.TrustedProxies, cfg, conns.Listener)
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("AUTHENTIK_LISTEN__HTTPS: %w", err)
		}
		lns = append(lns, ln)
	}
	log.Info("listening", "https", addrs(lns))
	return lns, nil
}
