package main

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// seriesOf is a series of one run per value, each made by run.
func seriesOf(run func(float64) result, vs ...float64) *series {
	s := &series{}
	for _, v := range vs {
		s.runs = append(s.runs, run(v))
	}
	return s
}

func runs(rps ...float64) *series {
	return seriesOf(func(v float64) result { return result{rps: v} }, rps...)
}

// Ratios are taken round by round, then their median: a round in which
// the whole machine was slow moves both sides, not one.
func TestRoundRatio(t *testing.T) {
	for _, tc := range []struct {
		name        string
		a, b        *series
		med, lo, hi float64
		n           int
	}{
		{"same rounds", runs(100, 100, 100), runs(80, 80, 80), 0.8, 0.8, 0.8, 3},
		// Each side's median would give 90/150 = 0.6.
		{"per round, then the median", runs(100, 200, 150), runs(40, 100, 90), 0.5, 0.4, 0.6, 3},
		{"median of three", runs(100, 100, 100), runs(70, 90, 80), 0.8, 0.7, 0.9, 3},
		{"even count", runs(100, 100), runs(70, 90), 0.8, 0.7, 0.9, 2},
		{"a round without requests on a is left out", runs(0, 100), runs(50, 60), 0.6, 0.6, 0.6, 1},
		{"b ran fewer rounds", runs(100, 100, 100), runs(90), 0.9, 0.9, 0.9, 1},
		{"nothing", runs(), runs(), 0, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := roundRatio(tc.a, tc.b)
			if r.n != tc.n || !near(r.med, tc.med) || !near(r.lo, tc.lo) || !near(r.hi, tc.hi) {
				t.Errorf("got %+v, want med %v lo %v hi %v n %d", r, tc.med, tc.lo, tc.hi, tc.n)
			}
		})
	}
}

// The CPU ratio is inverted: a target needing twice the CPU per request
// would, limited by CPU alone, serve half the requests.
func TestCPURatio(t *testing.T) {
	cpu := func(us ...float64) *series {
		return seriesOf(func(v float64) result { return result{cpuPerReq: time.Duration(v) * time.Microsecond} }, us...)
	}
	for _, tc := range []struct {
		name string
		a, b *series
		med  float64
		n    int
	}{
		{"twice the CPU", cpu(100, 100, 100), cpu(200, 200, 200), 0.5, 3},
		{"per round", cpu(100, 150, 120), cpu(125, 150, 200), 0.8, 3},
		{"a round without CPU on b is left out", cpu(100, 100), cpu(0, 125), 0.8, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := cpuRatio(tc.a, tc.b); r.n != tc.n || !near(r.med, tc.med) {
				t.Errorf("got %+v, want %v over %d rounds", r, tc.med, tc.n)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestRatioString(t *testing.T) {
	for _, tc := range []struct {
		r    ratio
		want string
	}{
		{ratio{}, "-"},
		{ratio{med: 0.8123, lo: 0.8123, hi: 0.8123, n: 1}, "0.81"},
		{ratio{med: 0.8, lo: 0.7, hi: 0.912, n: 3}, "0.80 (0.70–0.91)"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.r.String(); got != tc.want {
				t.Errorf("got %q", got)
			}
		})
	}
}

func TestP99Delta(t *testing.T) {
	p99s := func(ms ...float64) *series {
		return seriesOf(func(v float64) result { return result{p99: time.Duration(v) * time.Millisecond} }, ms...)
	}
	for _, tc := range []struct {
		name string
		a, b *series
		want time.Duration
	}{
		{"per round, then the median", p99s(10, 20, 30), p99s(11, 25, 31), time.Millisecond},
		{"b faster", p99s(10, 10, 10), p99s(8, 9, 7), -2 * time.Millisecond},
		{"nothing", p99s(), p99s(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := p99Delta(tc.a, tc.b); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// The ceiling is made of what the outpost changed in the app's request:
// lines it added, values it changed (its own cookie taken out of Cookie),
// and lines it removed (a bearer token's Authorization).
func TestHeaderChanges(t *testing.T) {
	floor := http.Header{
		"Accept":        {"text/html"},
		"Cookie":        {"a=1; authentik_proxy_x=secret"},
		"Authorization": {"Bearer t"},
	}
	outpost := http.Header{
		"Accept":               {"text/html"},
		"Cookie":               {"a=1"},
		"X-Authentik-Username": {"bench"},
		"X-Authentik-Groups":   {"ops|developers"},
	}
	add, changed, drop := headerChanges(floor, outpost)
	for _, tc := range []struct {
		name      string
		got, want http.Header
	}{
		{"added", add, http.Header{"X-Authentik-Username": {"bench"}, "X-Authentik-Groups": {"ops|developers"}}},
		{"changed", changed, http.Header{"Cookie": {"a=1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.got) != len(tc.want) {
				t.Fatalf("got %v, want %v", tc.got, tc.want)
			}
			for k, v := range tc.want {
				if !slices.Equal(tc.got[k], v) {
					t.Errorf("%s: got %q, want %q", k, tc.got[k], v)
				}
			}
		})
	}
	t.Run("dropped", func(t *testing.T) {
		if !slices.Equal(drop, []string{"Authorization"}) {
			t.Errorf("got %v", drop)
		}
	})
	t.Run("size on the wire", func(t *testing.T) {
		// "X-Authentik-Username: bench\r\n" and "X-Authentik-Groups: ops|developers\r\n"
		if n, b := headerLines(add), headerBytes(add); n != 2 || b != 29+36 {
			t.Errorf("%d lines, %d bytes", n, b)
		}
	})
}

func TestCopyBuffers(t *testing.T) {
	p := &copyBuffers{}
	p.New = func() any { return new([copyBufferSize]byte) }
	for _, tc := range []struct {
		name string
		put  []byte
	}{
		{"a buffer of its own comes back", p.Get()},
		{"a shortened one is put back whole", p.Get()[:10]},
		{"one of another size is dropped", make([]byte, 100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.Put(tc.put)
			if b := p.Get(); len(b) != copyBufferSize {
				t.Errorf("Get: %d bytes", len(b))
			}
		})
	}
}
