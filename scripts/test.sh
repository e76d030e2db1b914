#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need, checks
# formatting and vet, runs every test with the race detector, then runs each
# fuzz target briefly.
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
go test -race -count=1 -timeout 20m ./...
