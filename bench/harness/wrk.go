package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// result is one load run against one target.
type result struct {
	rps      float64
	p50, p99 time.Duration
	errors   int64 // socket errors and non-2xx/3xx answers
	// errorKinds is wrk's breakdown of errors, when there were any.
	errorKinds string
	peakMB     float64
	// cpuPerReq is the proxy process's CPU time per request (user +
	// system): steadier than throughput on a shared machine. With several
	// processes counted, it is their sum, and parts is each one's.
	cpuPerReq time.Duration
	parts     []time.Duration
	// logPerReq is the bytes per request the outpost wrote to its log
	// file during the run (outposts only).
	logPerReq float64
}

var (
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reP50     = regexp.MustCompile(`(?m)^\s+50%\s+([0-9.]+)(us|ms|s)\b`)
	reP99     = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s)\b`)
	reNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	reSockErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// runWrk drives url at conns connections for d and parses wrk's report.
func runWrk(cfg config, url string, headers []string, d time.Duration) result {
	args := []string{"-t", strconv.Itoa(cfg.threads), "-c", strconv.Itoa(cfg.conns), "-d", d.String(), "--latency"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	args = append(args, url)
	out, err := exec.Command(cfg.wrk, args...).CombinedOutput()
	if err != nil {
		fatalf("wrk %s: %v\n%s", url, err, out)
	}
	return parseWrk(string(out))
}

func parseWrk(out string) result {
	var r result
	if m := reRPS.FindStringSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	r.p50 = wrkDuration(reP50.FindStringSubmatch(out))
	r.p99 = wrkDuration(reP99.FindStringSubmatch(out))
	var kinds []string
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		r.errors += n
		kinds = append(kinds, "non-2xx/3xx "+m[1])
	}
	if m := reSockErr.FindStringSubmatch(out); m != nil {
		for i, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.errors += n
			if n > 0 {
				kinds = append(kinds, []string{"connect", "read", "write", "timeout"}[i]+" "+s)
			}
		}
	}
	r.errorKinds = strings.Join(kinds, ", ")
	return r
}

func wrkDuration(m []string) time.Duration {
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	switch m[2] {
	case "us":
		return time.Duration(v * float64(time.Microsecond))
	case "ms":
		return time.Duration(v * float64(time.Millisecond))
	}
	return time.Duration(v * float64(time.Second))
}

// median of each field across rounds (errors: the sum).
func median(rs []result) result {
	if len(rs) == 0 {
		return result{}
	}
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return medianOf(v)
	}
	var out result
	out.rps = pick(func(r result) float64 { return r.rps })
	out.p50 = time.Duration(pick(func(r result) float64 { return float64(r.p50) }))
	out.p99 = time.Duration(pick(func(r result) float64 { return float64(r.p99) }))
	out.peakMB = pick(func(r result) float64 { return r.peakMB })
	out.cpuPerReq = time.Duration(pick(func(r result) float64 { return float64(r.cpuPerReq) }))
	out.logPerReq = pick(func(r result) float64 { return r.logPerReq })
	for i := range rs[0].parts {
		out.parts = append(out.parts, time.Duration(pick(func(r result) float64 { return float64(r.parts[i]) })))
	}
	var kinds []string
	for _, r := range rs {
		out.errors += r.errors
		if r.errorKinds != "" {
			kinds = append(kinds, r.errorKinds)
		}
	}
	out.errorKinds = strings.Join(kinds, "; ")
	return out
}

// medianOf sorts v and returns its median (0 if empty).
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDur(-d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
