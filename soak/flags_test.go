package soak

import (
	"flag"
	"time"
)

var (
	soakDuration = flag.Duration("soak.duration", 3*time.Minute, "how long each store's soak runs (at least 3m: the faults need it)")
	soakRate     = flag.Int("soak.rate", 600, "requests per second, signed-in and anonymous together")
	soakGrace    = flag.Duration("soak.grace", 5*time.Second, "how long after a fault ends a 5xx still counts as the fault's")
)
