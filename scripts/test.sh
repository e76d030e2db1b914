#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need, checks
# formatting and vet, runs each fuzz target briefly, every test with the race
# detector, then the chaos soak for 3 minutes per session store.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-deps.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== fuzz (brief)"
FUZZTIME=${FUZZTIME:-5s} ./scripts/fuzz.sh
echo "== go test -race"
go test -race -count=1 -timeout 20m $(go list ./... | grep -v '/soak$')
# The chaos soak last, alone, so that no other test's load moves its
# windows (docs/deployment.md; make soak runs it longer).
echo "== soak (3 minutes per store: PostgreSQL, Redis Sentinel)"
go test -race -count=1 -timeout 30m -v ./soak -args -soak.duration=3m
