#!/bin/sh
# Regenerates cmd/outpost/default.pgo, the CPU profile `go build` compiles
# the outpost with (profile-guided optimisation, on by default for a main
# package's default.pgo). The profile comes from the load harness's
# proxy-mode, assertion, bearer-token and forward-auth scenarios (the
# outposts write it themselves: OUTPOST_CPU_PROFILE), merged into one.
# Run it on a quiet machine after a change to the request path; a stale
# profile still builds, it only optimises less (docs/performance.md, "PGO").
set -eu
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo "== load harness, outposts profiling themselves (about 6 minutes; report in $dir/harness.txt while it runs)"
go run ./bench/harness -outpost-env "OUTPOST_CPU_PROFILE=$dir/cpu" \
	-only proxy,assertion,bearer,forward -rounds 2 -duration 8s -sessions 0 -scale=false >"$dir/harness.txt"
set -- "$dir"/cpu.*
[ -s "$1" ] || { echo "no profile was written" >&2; exit 1; }
go tool pprof -proto "$@" >"$dir/merged.pgo"
mv "$dir/merged.pgo" cmd/outpost/default.pgo
echo "cmd/outpost/default.pgo: merged from $# outposts' profiles; commit it"
