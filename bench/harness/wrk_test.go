package main

import (
	"strconv"
	"testing"
	"time"
)

// wrk's report as it prints one with errors: the harness counts them all
// and names each kind, so a failed swap says how it failed.
func TestParseWrkErrors(t *testing.T) {
	out := `Running 5s test @ http://127.0.0.1:8080/
  2 threads and 64 connections
  Latency Distribution
     50%  812.00us
     75%    1.20ms
     90%    1.90ms
     99%    3.47ms
  52301 requests in 5.00s, 7.53MB read
  Socket errors: connect 0, read 64, write 0, timeout 2
  Non-2xx or 3xx responses: 3
Requests/sec:  10459.77
Transfer/sec:      1.51MB
`
	r := parseWrk(out)
	if r.errors != 69 || r.errorKinds != "non-2xx/3xx 3, read 64, timeout 2" {
		t.Errorf("errors %d (%q)", r.errors, r.errorKinds)
	}
	if r.rps != 10459.77 || r.p50 != 812*time.Microsecond || r.p99 != 3470*time.Microsecond {
		t.Errorf("rps %v p50 %v p99 %v", r.rps, r.p50, r.p99)
	}
	clean := parseWrk("Requests/sec:  100.00\n")
	if clean.errors != 0 || clean.errorKinds != "" {
		t.Errorf("no errors reported as %d (%q)", clean.errors, clean.errorKinds)
	}
	m := median([]result{r, clean, r})
	if m.errors != 138 || m.errorKinds != r.errorKinds+"; "+r.errorKinds {
		t.Errorf("median: %d (%q)", m.errors, m.errorKinds)
	}
}

// Over 2·n rounds of n targets, every target runs in every place (first,
// second, ...) equally often: none is favoured by running first or last.
func TestRoundOrderIsBalanced(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run("n="+strconv.Itoa(n), func(t *testing.T) {
			place := map[[2]int]int{} // {target, place}: rounds
			for i := range 2 * n {
				order := roundOrder(n, i)
				seen := map[int]bool{}
				for k, j := range order {
					seen[j] = true
					place[[2]int{j, k}]++
				}
				if len(order) != n || len(seen) != n {
					t.Fatalf("n=%d round %d: %v", n, i, order)
				}
			}
			for j := range n {
				for k := range n {
					if got := place[[2]int{j, k}]; got != 2 {
						t.Errorf("n=%d: target %d ran in place %d in %d of %d rounds, want 2", n, j, k, got, 2*n)
					}
				}
			}
		})
	}
}
