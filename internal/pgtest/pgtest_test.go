package pgtest

import (
	"testing"
	"time"
)

// The server runs from a fresh initdb, takes the app role's password, keeps
// its data across a crash, and is gone at cleanup.
func TestStartKillRestart(t *testing.T) {
	start := time.Now()
	s := Start(t)
	t.Logf("started in %s", time.Since(start))
	s.Exec(t, Database, "CREATE TABLE kept (v text)", "INSERT INTO kept VALUES ('before the crash')")
	if got := s.Query(t, "SELECT current_user"); len(got) != 1 || got[0] != superuser {
		t.Errorf("current_user = %v", got)
	}
	s.Kill()
	if err := s.ping(); err == nil {
		t.Fatal("still answering after Kill")
	}
	s.Restart()
	if got := s.Query(t, "SELECT v FROM kept"); len(got) != 1 || got[0] != "before the crash" {
		t.Errorf("after restart: %v", got)
	}
}
