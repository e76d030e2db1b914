package session

// providerTable interns provider names: a memory store's sessions belong to
// a handful of providers, so each entry holds a small number instead of a
// string. Names are counted and dropped with their last session, and so is
// each provider's dictionary (providerDict): made from the sample of its
// first session, it is what its records are packed with. Guarded by the
// store's lock.
type providerTable struct {
	ids   map[string]uint32
	names []string
	refs  []int
	dicts [][]byte
	free  []uint32
}

func (t *providerTable) intern(name string) uint32 {
	if id, ok := t.ids[name]; ok {
		t.refs[id]++
		return id
	}
	if t.ids == nil {
		t.ids = map[string]uint32{}
	}
	var id uint32
	if n := len(t.free); n > 0 {
		id = t.free[n-1]
		t.free = t.free[:n-1]
		t.names[id], t.refs[id] = name, 1
	} else {
		id = uint32(len(t.names))
		t.names = append(t.names, name)
		t.refs = append(t.refs, 1)
		t.dicts = append(t.dicts, nil)
	}
	t.ids[name] = id
	return id
}

func (t *providerTable) release(id uint32) {
	if t.refs[id]--; t.refs[id] == 0 {
		delete(t.ids, t.names[id])
		t.names[id], t.dicts[id] = "", nil
		t.free = append(t.free, id)
	}
}

func (t *providerTable) name(id uint32) string { return t.names[id] }

func (t *providerTable) dict(id uint32) []byte { return t.dicts[id] }

// dictFor is the dictionary of the provider name, nil if it has none.
func (t *providerTable) dictFor(name string) []byte {
	if id, ok := t.ids[name]; ok {
		return t.dicts[id]
	}
	return nil
}

func (t *providerTable) lookup(name string) (uint32, bool) {
	id, ok := t.ids[name]
	return id, ok
}
