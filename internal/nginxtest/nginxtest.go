// Package nginxtest writes the part of an nginx.conf that every nginx the
// tests and the benchmark start shares: one foreground process whose pid,
// temporary files and (optionally) error log live in one directory, so
// that it runs as any user, beside others, and leaves nothing behind.
package nginxtest

import (
	"errors"
	"fmt"
	"os/exec"
)

// Config is a whole nginx.conf: the shared part around http, the body of
// the http block (upstreams, servers, maps). errorLog is "stderr" or a
// file; connections is worker_connections.
func Config(dir, errorLog string, connections int, http string) string {
	return fmt.Sprintf(`daemon off;
master_process off;
worker_rlimit_nofile 8192;
pid %[1]s/nginx.pid;
error_log %[2]s warn;
events { worker_connections %[3]d; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[4]s}
`, dir, errorLog, connections, http)
}

// Binary is Debian's nginx, which `make test` installs.
func Binary() (string, error) {
	for _, p := range []string{"/usr/sbin/nginx", "nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", errors.New("no nginx found: install Debian's nginx package (make test does, through scripts/install-test-deps.sh)")
}
