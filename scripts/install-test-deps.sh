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
  prometheus:prometheus   # scrapes the outpost; promtool checks the shipped rules (cmd/outpost/prometheus_test.go)
)

missing=()
for entry in "${needed[@]}"; do
  cmd=${entry%%:*} pkg=${entry#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing test dependencies: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
