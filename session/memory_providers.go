package session

// providerTable interns provider names: a memory store's sessions belong to
// a handful of providers, so each entry holds a small number instead of a
// string. Names are counted and dropped with their last session. Guarded by
// the store's lock.
type providerTable struct {
	ids   map[string]uint32
	names []string
	refs  []int
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
	}
	t.ids[name] = id
	return id
}

func (t *providerTable) release(id uint32) {
	if t.refs[id]--; t.refs[id] == 0 {
		delete(t.ids, t.names[id])
		t.names[id] = ""
		t.free = append(t.free, id)
	}
}

func (t *providerTable) name(id uint32) string { return t.names[id] }

func (t *providerTable) lookup(name string) (uint32, bool) {
	id, ok := t.ids[name]
	return id, ok
}
