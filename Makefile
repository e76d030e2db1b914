# The README's two commands are `make demo` and `make test`.
VERSION ?= 0.1.0
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.buildHash=$(COMMIT)

.PHONY: demo test build fuzz lint

demo:
	go run ./cmd/outpost demo

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
