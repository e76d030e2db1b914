package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Where Redis is: one node (AUTHENTIK_REDIS__HOST, __PORT), a master found
// through Sentinel (AUTHENTIK_REDIS__SENTINEL__*) or a Redis Cluster
// (AUTHENTIK_REDIS__CLUSTER__ADDRS). The other AUTHENTIK_REDIS__ settings
// (user, password, database, TLS) apply to the data nodes of any of them.
const (
	sentinelMasterVar   = "AUTHENTIK_REDIS__SENTINEL__MASTER"
	sentinelAddrsVar    = "AUTHENTIK_REDIS__SENTINEL__ADDRS"
	sentinelPasswordVar = "AUTHENTIK_REDIS__SENTINEL__PASSWORD"
	clusterAddrsVar     = "AUTHENTIK_REDIS__CLUSTER__ADDRS"
	// defaultSentinelPort is Redis Sentinel's own.
	defaultSentinelPort = "26379"
)

// loadRedisTopology sets r's Addr, Sentinel or ClusterAddrs from vals (the
// AUTHENTIK_REDIS__ variables set, in the order of set). It refuses, naming
// the variables, combinations that cannot be meant; false when r is not
// usable.
func loadRedisTopology(r *Redis, vals map[string]string, set []string, fail func(name, format string, args ...any)) bool {
	var sentinelSet []string
	for _, name := range []string{sentinelMasterVar, sentinelAddrsVar, sentinelPasswordVar} {
		if _, ok := vals[name]; ok {
			sentinelSet = append(sentinelSet, name)
		}
	}
	_, cluster := vals[clusterAddrsVar]
	host, hasHost := vals["AUTHENTIK_REDIS__HOST"]
	switch {
	case cluster && len(sentinelSet) > 0:
		fail(clusterAddrsVar, "set together with %s: a Redis Cluster and a master found through Sentinel are different deployments; set the one you run", strings.Join(sentinelSet, ", "))
		return false
	case hasHost && (cluster || len(sentinelSet) > 0):
		other := clusterAddrsVar
		if !cluster {
			other = strings.Join(sentinelSet, ", ")
		}
		fail("AUTHENTIK_REDIS__HOST", "set together with %s: AUTHENTIK_REDIS__HOST is one Redis node; for Sentinel or Cluster unset it", other)
		return false
	case cluster || len(sentinelSet) > 0:
		if _, ok := vals["AUTHENTIK_REDIS__PORT"]; ok {
			list := sentinelAddrsVar
			if cluster {
				list = clusterAddrsVar
			}
			fail("AUTHENTIK_REDIS__PORT", "has no meaning with Sentinel or Cluster: give each address its port in %s", list)
			return false
		}
		if cluster {
			addrs, err := parseRedisAddrs(vals[clusterAddrsVar], defaultRedisPort)
			if err != nil {
				fail(clusterAddrsVar, "%v", err)
				return false
			}
			r.ClusterAddrs = addrs
			return true
		}
		return loadSentinel(r, vals, fail)
	case !hasHost:
		fail(set[0], "set without AUTHENTIK_REDIS__HOST: set the host to use Redis for sessions (or %s, or %s and %s), or unset %s",
			clusterAddrsVar, sentinelMasterVar, sentinelAddrsVar, strings.Join(set, ", "))
		return false
	}
	if strings.ContainsAny(host, "/:@ ") && !strings.HasPrefix(host, "[") {
		fail("AUTHENTIK_REDIS__HOST", "want a host name or IP address, got %q (for a URL use OUTPOST_SESSION_URL)", host)
		return false
	}
	port := defaultRedisPort
	if v, ok := vals["AUTHENTIK_REDIS__PORT"]; ok {
		if n, err := strconv.ParseUint(v, 10, 16); err != nil || n == 0 {
			fail("AUTHENTIK_REDIS__PORT", "want a port from 1 to 65535, got %q", v)
		}
		port = v
	}
	r.Addr = net.JoinHostPort(strings.Trim(host, "[]"), port)
	return true
}

func loadSentinel(r *Redis, vals map[string]string, fail func(name, format string, args ...any)) bool {
	master, hasMaster := vals[sentinelMasterVar]
	rawAddrs, hasAddrs := vals[sentinelAddrsVar]
	switch {
	case !hasAddrs:
		name := sentinelMasterVar
		if !hasMaster {
			name = sentinelPasswordVar
		}
		fail(name, "set without %s: the sentinels' addresses, a comma list of host:port (port %s by default)", sentinelAddrsVar, defaultSentinelPort)
		return false
	case !hasMaster:
		fail(sentinelAddrsVar, "set without %s: the name the sentinels monitor the master by (the <name> of their `sentinel monitor <name> ...`)", sentinelMasterVar)
		return false
	case strings.ContainsAny(master, " \t\r\n"):
		fail(sentinelMasterVar, "must not contain white space, got %q", master)
		return false
	}
	addrs, err := parseRedisAddrs(rawAddrs, defaultSentinelPort)
	if err != nil {
		fail(sentinelAddrsVar, "%v", err)
		return false
	}
	r.Sentinel = &RedisSentinel{Master: master, Addrs: addrs, Password: vals[sentinelPasswordVar]}
	return true
}

// parseRedisAddrs reads a comma (or JSON) list of host[:port], the port
// defaulting to defaultPort, into host:port.
func parseRedisAddrs(v, defaultPort string) ([]string, error) {
	items, err := ParseList(v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("want a comma list of host:port, got none")
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		if strings.ContainsAny(item, "/@") {
			// Not echoed: a URL may hold a password.
			return nil, fmt.Errorf("want host:port, got what looks like a URL (not shown): a list of addresses goes here")
		}
		if strings.ContainsAny(item, " \t") {
			return nil, fmt.Errorf("want host:port, got %q", item)
		}
		host, port, err := net.SplitHostPort(item)
		switch {
		case err == nil:
			if n, perr := strconv.ParseUint(port, 10, 16); perr != nil || n == 0 {
				return nil, fmt.Errorf("%q: want a port from 1 to 65535", item)
			}
		case strings.HasPrefix(item, "[") && strings.HasSuffix(item, "]"):
			host, port = strings.Trim(item, "[]"), defaultPort
		case strings.Contains(item, ":"):
			return nil, fmt.Errorf("%q: want host:port (an IPv6 address in brackets: [::1]:%s)", item, defaultPort)
		default:
			host, port = item, defaultPort
		}
		if host == "" {
			return nil, fmt.Errorf("%q has no host", item)
		}
		out = append(out, net.JoinHostPort(host, port))
	}
	return out, nil
}
