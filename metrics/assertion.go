package metrics

// AssertionSigned counts one identity assertion by result (signed, cached
// or failed).
func (p *Proxy) AssertionSigned(result string) {
	if i := labelIndex(AssertionResults, result); i >= 0 {
		p.assertionByResult[i].Inc()
		return
	}
	p.assertions.WithLabelValues(result).Inc()
}

// AssertionKeyRotated counts a new signing key in use (for any algorithm:
// the label is the event only).
func (p *Proxy) AssertionKeyRotated(string) { p.assertionKeys.WithLabelValues("rotated").Inc() }

// AssertionKeyError counts a refresh of the signing keys that failed.
func (p *Proxy) AssertionKeyError() { p.assertionKeys.WithLabelValues("error").Inc() }
