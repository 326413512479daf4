# retain — the two commands a newcomer needs are `make demo` and `make test`.
# Every tool is fetched through the Go module proxy at a pinned version; a
# fresh machine needs only Go.

GO       ?= go
DEMO_DIR ?= .demo
# Demo size: small enough to run in seconds on a laptop, big enough to be a gym.
DEMO_MEMBERS ?= 5000
DEMO_WEEKS   ?= 104
DEMO_SEED    ?= 1

.PHONY: all build demo test vet fmt fmt-check lint bench clean

all: build

build:
	$(GO) build -o bin/retain ./cmd/retain

## demo: generate the embedded default gym dataset and print its summary.
demo: build
	./bin/retain generate --members $(DEMO_MEMBERS) --weeks $(DEMO_WEEKS) --seed $(DEMO_SEED) --out $(DEMO_DIR)/data --overwrite
	./bin/retain validate $(DEMO_DIR)/data

## test: formatting, vet, and every test (the CI command; under 10 minutes on 2 cores).
test: fmt-check vet
	$(GO) test -count=1 -timeout 15m ./...

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

lint: fmt-check vet

## bench: benchmarks (not part of make test); figures go to docs/benchmarks.md.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./datasets/... ./features/...

clean:
	rm -rf bin $(DEMO_DIR)
