package proxy

import (
	"math"
	"regexp"
	"strconv"
	"testing"
)

// The pages' palette meets WCAG 2.x AA: 4.5:1 for every text colour on
// the background it is drawn on (the colours are read from the CSS the
// pages inline, so a change there is checked here).
func TestPagePaletteContrast(t *testing.T) {
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z-]+):(#[0-9a-fA-F]{6})`).FindAllStringSubmatch(string(pageCSS), -1) {
		vars[m[1]] = m[2]
	}
	for _, pair := range []struct{ text, on string }{
		{"fg", "card"},     // headings and messages
		{"fg", "bg"},       // anything outside the card on a narrow screen
		{"muted", "card"},  // the request id and small print
		{"accent", "card"}, // secondary links
		{"accent-fg", "accent"},
	} {
		t.Run(pair.text+" on "+pair.on, func(t *testing.T) {
			fg, bg := vars[pair.text], vars[pair.on]
			if fg == "" || bg == "" {
				t.Fatalf("--%s or --%s missing from page.css (%v)", pair.text, pair.on, vars)
			}
			if r := contrast(fg, bg); r < 4.5 {
				t.Errorf("%s on %s: %.2f:1, want at least 4.5:1", fg, bg, r)
			}
		})
	}
}

// contrast is WCAG's contrast ratio of two #rrggbb colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

func luminance(hex string) float64 {
	var c [3]float64
	for i := range c {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		s := float64(v) / 255
		if s <= 0.04045 {
			c[i] = s / 12.92
		} else {
			c[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}
