package outpostapi

import (
	"fmt"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultResponseHeaderTimeout is how long an upstream may take to start
// its answer (status and headers) before the client gets a 504: nginx's
// proxy_read_timeout default. Bodies, streams and websockets are not
// bounded by it once the headers are in.
const DefaultResponseHeaderTimeout = 60 * time.Second

// UpstreamTimeout is a YAML duration: "90s", "2m", or a number of seconds.
// A bare number is not Go's nanoseconds: 60 means a minute, as an operator
// reading the file would expect.
type UpstreamTimeout time.Duration

// UnmarshalYAML accepts a positive duration or number of seconds.
func (t *UpstreamTimeout) UnmarshalYAML(n *yaml.Node) error {
	bad := func() error {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: response_header_timeout: want a positive duration like 90s or 2m, or a number of seconds, got %q", n.Line, n.Value)}}
	}
	if n.Kind != yaml.ScalarNode {
		return bad()
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		secs, ferr := strconv.ParseFloat(n.Value, 64)
		if ferr != nil {
			return bad()
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d <= 0 {
		return bad()
	}
	*t = UpstreamTimeout(d)
	return nil
}
