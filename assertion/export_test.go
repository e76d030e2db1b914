package assertion

// CacheLen is how many assertions s caches.
func CacheLen(s *Signer) int { return s.cache.len() }

// ParseKeyFile parses a key file's content.
func ParseKeyFile(raw []byte) (int, error) {
	keys, err := parseKeyFile(raw)
	return len(keys), err
}
