# The README's commands are `make demo`, `make demo-standalone` and `make test`.
VERSION ?= 0.1.0
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.buildHash=$(COMMIT)

.PHONY: demo demo-standalone test build fuzz lint bench soak

demo:
	go run ./cmd/outpost demo

# The same app in standalone mode: providers from YAML, the stand-in core as
# a plain OpenID Connect issuer (docs/standalone.md).
demo-standalone:
	go run ./cmd/outpost demo --standalone

test:
	./scripts/test.sh

# A static binary (no libc): `bin/outpost version` shows version, commit and Go.
OUT ?= bin/outpost
build:
	CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags '$(LDFLAGS)' -o $(OUT) ./cmd/outpost

# Longer fuzzing when you touch a parser: make fuzz FUZZTIME=5m
FUZZTIME ?= 1m
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	go vet ./...

# The performance benchmark (docs/performance.md): Go microbenchmarks of the
# per-request path, then the load harness (wrk, nginx, redis-server on
# 127.0.0.1). Takes about 20 minutes (BenchmarkPostgresLookup fills a table with a
# million sessions first); pass harness flags in BENCH_ARGS, e.g.
# make bench BENCH_ARGS='-rounds 3 -only proxy,forward -sessions 0'.
BENCH_ARGS ?=
BENCHTIME ?= 1s
bench:
	go test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./proxy ./session ./cmd/outpost
	go run ./bench/harness $(BENCH_ARGS)

# The chaos soak (docs/deployment.md): two replicas behind nginx, faults
# injected under load, per session store. make test runs it for 3 minutes;
# the documented long run is make soak SOAK_DURATION=30m.
SOAK_DURATION ?= 3m
soak:
	go test -count=1 -v -timeout 0 ./soak -args -soak.duration=$(SOAK_DURATION)
