package deploy

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// Every Redis the deployment files run for sessions must not evict keys:
// an evicted sid:/sub: index lets a session outlive its sign-out (issue 21,
// row 4). The Kubernetes Redis's own arguments are run by a real
// redis-server to see the policy it ends up with.
func TestShippedRedisNeverEvicts(t *testing.T) {
	var sawRedis bool
	for _, m := range loadManifests(t) {
		for _, d := range m.deployments {
			for _, c := range d.Spec.Template.Spec.Containers {
				if !strings.Contains(c.Image, "redis") {
					continue
				}
				sawRedis = true
				t.Run(m.file+"/"+d.Name+"/"+c.Name, func(t *testing.T) {
					args := append(append([]string(nil), c.Command...), c.Args...)
					srv := redistest.StartWith(t, redistest.Options{Args: args})
					client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
					defer client.Close()
					got, err := client.ConfigGet(context.Background(), "maxmemory-policy").Result()
					if err != nil {
						t.Fatal(err)
					}
					if got["maxmemory-policy"] != "noeviction" {
						t.Errorf("runs with maxmemory-policy %s, want noeviction", got["maxmemory-policy"])
					}
				})
			}
		}
	}
	if !sawRedis {
		t.Fatal("no Redis container in deploy/kubernetes")
	}
	// Compose files, Helm values and anything else under deploy/ that names
	// a policy name noeviction.
	policy := regexp.MustCompile(`(?m)(?:--maxmemory-policy["',\s=]+|^\s*maxmemory-policy[:\s]+)["']?([a-z-]+)`)
	files := []string{filepath.Join(repo, "docker-compose.yml")}
	_ = filepath.Walk(filepath.Join(repo, "deploy"), func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasSuffix(path, ".go") {
			files = append(files, path)
		}
		return nil
	})
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range policy.FindAllStringSubmatch(string(b), -1) {
			if m[1] != "noeviction" {
				t.Errorf("%s: maxmemory-policy %s, want noeviction", f, m[1])
			}
		}
	}
}
