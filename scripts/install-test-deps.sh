#!/usr/bin/env bash
# Installs, from Debian's packages, the servers the tests start for real.
# Only what is missing is installed, so a prepared machine pays nothing.
set -euo pipefail

# command-on-PATH:debian-package
needed=(
  chromium:chromium   # the demo login in a real browser (cmd/outpost/browser_test.go)
  /usr/sbin/nginx:nginx   # auth_request in front of an app (proxy/forward_nginx_test.go)
  caddy:caddy             # forward_auth in front of an app (proxy/forward_caddy_test.go)
  redis-server:redis-server   # shared sessions (session, proxy and cmd/outpost Redis tests)
  redis-sentinel:redis-sentinel   # Redis Sentinel (internal/redistest StartSentinel: session and cmd/outpost tests)
  redis-cli:redis-tools   # creates the test Redis Cluster (internal/redistest StartCluster)
  /usr/lib/postgresql/*/bin/postgres:postgresql   # shared sessions (internal/pgtest: session, proxy, outpostapi and cmd/outpost PostgreSQL tests)
  prometheus:prometheus   # scrapes the outpost; promtool checks the shipped rules (cmd/outpost/prometheus_test.go)
  node:nodejs             # runs npm's oidc-provider, a third-party issuer (proxy/oidcprovider_test.go)
  npm:npm                 # installs it (below)
)

missing=()
for entry in "${needed[@]}"; do
  cmd=${entry%%:*} pkg=${entry#*:}
  # A pattern (Debian keeps PostgreSQL's binaries per major version, off
  # PATH) counts when some file matches it.
  if [[ $cmd == *'*'* ]]; then
    compgen -G "$cmd" >/dev/null || missing+=("$pkg")
    continue
  fi
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing test dependencies: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm's oidc-provider, pinned (internal/nodeissuer: Version and Dir must
# agree with these), into a cache directory the tests read.
oidc_provider_version=9.13.3
node_dir=${OUTPOST_TEST_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/outpost-test/oidc-provider-$oidc_provider_version}
if [ ! -f "$node_dir/node_modules/oidc-provider/package.json" ]; then
  echo "installing oidc-provider@$oidc_provider_version into $node_dir"
  mkdir -p "$node_dir"
  npm install --prefix "$node_dir" --no-audit --no-fund --ignore-scripts "oidc-provider@$oidc_provider_version"
fi
