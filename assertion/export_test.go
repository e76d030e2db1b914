package assertion

// CacheLen is how many assertions s caches.
func CacheLen(s *Signer) int { return s.cache.len() }
