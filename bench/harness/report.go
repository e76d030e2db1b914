package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// series is one target's runs in a scenario, round by round.
type series struct {
	label string
	// access is how the outpost's access log is kept ("" for the floors).
	access string
	runs   []result // runs[i] is round i's
	med    result   // medians over the rounds
	// parts names the processes whose CPU time is counted, in order.
	parts []string
}

// report is one scenario: its floor, the identity ceiling when there is
// one, and the outposts, all measured in the same rounds.
type report struct {
	name, unit, note string
	// identity says what the ceiling adds (and removes).
	identity string
	floor    *series
	oldFloor *series // the floor before issue 25 (-old-floor)
	ceiling  *series
	outposts []*series
	// baseline is the reference outpost (the "before"): built from
	// -baseline, or this tree's as the scenario compares it.
	baseline *series
}

// ratio is a ratio of two targets taken round by round: the median of
// the per-round ratios and their range.
type ratio struct {
	med, lo, hi float64
	n           int
}

// roundRatio is b's requests/s over a's.
func roundRatio(a, b *series) ratio {
	return perRound(a, b, func(x, y result) (float64, bool) { return y.rps / x.rps, x.rps > 0 })
}

// cpuRatio is a's CPU per request over b's: what b's requests/s over a's
// would be if each were limited only by the CPU its requests take. It
// moves less than roundRatio when others share the machine.
func cpuRatio(a, b *series) ratio {
	return perRound(a, b, func(x, y result) (float64, bool) {
		return float64(x.cpuPerReq) / float64(y.cpuPerReq), y.cpuPerReq > 0
	})
}

// perRound is f over the rounds both ran (where f says it is defined).
func perRound(a, b *series, f func(a, b result) (float64, bool)) ratio {
	var v []float64
	for i := range min(len(a.runs), len(b.runs)) {
		if x, ok := f(a.runs[i], b.runs[i]); ok {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return ratio{}
	}
	r := ratio{lo: slices.Min(v), hi: slices.Max(v), n: len(v)}
	r.med = medianOf(v)
	return r
}

func (r ratio) String() string {
	switch r.n {
	case 0:
		return "-"
	case 1:
		return fmt.Sprintf("%.2f", r.med)
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", r.med, r.lo, r.hi)
}

// p99Delta is the median over the rounds of b's p99 less a's.
func p99Delta(a, b *series) time.Duration {
	var v []float64
	for i := range min(len(a.runs), len(b.runs)) {
		v = append(v, float64(b.runs[i].p99-a.runs[i].p99))
	}
	return time.Duration(medianOf(v))
}

func signed(d time.Duration) string {
	if d >= 0 {
		return "+" + fmtDur(d)
	}
	return fmtDur(d)
}

// all is the report's series in the order they are printed.
func (r report) all() []*series {
	out := []*series{r.floor}
	for _, s := range []*series{r.oldFloor, r.ceiling} {
		if s != nil {
			out = append(out, s)
		}
	}
	out = append(out, r.outposts...)
	if r.baseline != nil {
		out = append(out, r.baseline)
	}
	return out
}

// print writes the scenario's lines: each target's medians, then the
// ratios (medians of per-round ratios, with their range over the rounds).
func (r report) print() {
	unit := cmp.Or(r.unit, "req/s")
	fmt.Printf("\n%s\n", r.name)
	if r.identity != "" {
		fmt.Printf("  identity ceiling: %s\n", r.identity)
	}
	fmt.Printf("  %-40s %9s %8s %8s %7s %7s %5s %8s  %s\n", "target", unit, "p50", "p99", "peakMB", "cpu/r", "err", "log B/r", "cpu/r by process")
	for _, s := range r.all() {
		m := s.med
		logB := "-"
		if s.access != "" {
			logB = fmt.Sprintf("%.0f", m.logPerReq)
		}
		var parts []string
		if len(s.parts) > 1 {
			for i, d := range m.parts {
				parts = append(parts, s.parts[i]+" "+fmtDur(d))
			}
		}
		fmt.Printf("  %-40s %9.0f %8s %8s %7.1f %7s %5d %8s  %s", s.label, m.rps, fmtDur(m.p50), fmtDur(m.p99), m.peakMB,
			fmtDur(m.cpuPerReq), m.errors, logB, strings.Join(parts, " + "))
		if m.errorKinds != "" {
			fmt.Printf("  [errors: %s]", m.errorKinds)
		}
		fmt.Println()
	}
	line := func(what string, a, b *series) {
		fmt.Printf("  %-40s %-22s by CPU %-22s p99 %s\n", what, roundRatio(a, b), cpuRatio(a, b), signed(p99Delta(a, b)))
	}
	for _, o := range r.all()[1:] {
		if o == r.ceiling || o == r.oldFloor {
			continue
		}
		line(o.label+" / floor", r.floor, o)
		if r.ceiling != nil {
			line(o.label+" / ceiling", r.ceiling, o)
		}
	}
	if r.baseline != nil {
		line(r.outposts[0].label+" / baseline", r.baseline, r.outposts[0])
	}
	if r.ceiling != nil {
		line("ceiling / floor", r.floor, r.ceiling)
	}
	if r.oldFloor != nil {
		line("pooled floor / old floor", r.oldFloor, r.floor)
	}
	if r.note != "" {
		fmt.Printf("  (%s)\n", r.note)
	}
}

// printMarkdown prints every scenario's outposts as one table to paste
// into docs/performance.md.
func printMarkdown(machine string, reports []report) {
	if len(reports) == 0 {
		return
	}
	fmt.Printf("\n%s\n\n", machine)
	fmt.Println("| Scenario | Outpost's access log | req/s: floor · ceiling · outpost | Outpost / floor | Outpost / ceiling | Ceiling / floor | p99: floor · ceiling · outpost | Outpost p99 − ceiling p99 | CPU/request: floor · ceiling · outpost | By CPU: outpost / floor · outpost / ceiling · ceiling / floor |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range reports {
		name := r.name
		if r.unit != "" {
			name += " (" + r.unit + ")"
		}
		rows := r.outposts
		if r.baseline != nil {
			rows = append(slices.Clip(rows), r.baseline)
		}
		for _, o := range rows {
			c, oc, cf, dp := "—", "—", "—", "—"
			p99c, cpuc, byCPU := "—", "—", fmt.Sprintf("%.2f", cpuRatio(r.floor, o).med)
			if r.ceiling != nil {
				c = fmt.Sprintf("%.0f", r.ceiling.med.rps)
				oc, cf = roundRatio(r.ceiling, o).String(), roundRatio(r.floor, r.ceiling).String()
				dp = signed(p99Delta(r.ceiling, o))
				p99c, cpuc = fmtDur(r.ceiling.med.p99), fmtDur(r.ceiling.med.cpuPerReq)
				byCPU += fmt.Sprintf(" · %.2f · %.2f", cpuRatio(r.ceiling, o).med, cpuRatio(r.floor, r.ceiling).med)
			}
			fmt.Printf("| %s | %s | %.0f · %s · %.0f | %s | %s | %s | %s · %s · %s | %s | %s · %s · %s | %s |\n",
				name, o.access, r.floor.med.rps, c, o.med.rps, roundRatio(r.floor, o), oc, cf,
				fmtDur(r.floor.med.p99), p99c, fmtDur(o.med.p99), dp,
				fmtDur(r.floor.med.cpuPerReq), cpuc, fmtDur(o.med.cpuPerReq), byCPU)
		}
	}
	printBeforeAfter(reports)
	fmt.Println("\nRatios: medians of per-round ratios of requests/s, with their range over the rounds in parentheses; \"by CPU\": medians of per-round ratios of CPU per request, inverted (the requests/s ratio that CPU alone would give); p99 and CPU/request: medians over the rounds (CPU/request counts every server a request passes, the load generator left out).")
}

// printBeforeAfter prints, for every scenario that ran a baseline (the
// -baseline revision, or the outpost a scenario compares with: without
// tracing, on the memory store), this tree's outpost (log to a file)
// against it, scenario by scenario.
func printBeforeAfter(reports []report) {
	var rows []report
	for _, r := range reports {
		if r.baseline != nil && len(r.outposts) > 0 {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Println("\n| Scenario | Before | req/s: before · after | After / before | By CPU | p99: before · after | After p99 − before p99 | CPU/request: before · after |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		a, b := r.outposts[0], r.baseline
		fmt.Printf("| %s | %s | %.0f · %.0f | %s | %s | %s · %s | %s | %s · %s |\n", r.name, b.access, b.med.rps, a.med.rps,
			roundRatio(b, a), cpuRatio(b, a), fmtDur(b.med.p99), fmtDur(a.med.p99), signed(p99Delta(b, a)),
			fmtDur(b.med.cpuPerReq), fmtDur(a.med.cpuPerReq))
	}
}
