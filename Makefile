# retain — the two commands a newcomer needs are `make demo` and `make test`.
# Every tool is fetched through the Go module proxy at a pinned version; a
# fresh machine needs only Go.

GO       ?= go
DEMO_DIR ?= .demo
# Demo size: small enough to run in seconds on a laptop, big enough to be a gym.
DEMO_MEMBERS ?= 5000
DEMO_WEEKS   ?= 104
DEMO_SEED    ?= 1

.PHONY: all build demo test vet fmt fmt-check lint bench clean proto proto-check fuzz bench-torch

all: build

build:
	$(GO) build -o bin/retain ./cmd/retain

## demo: the main job on the embedded default data: generate the synthetic
## gym, check every row, build features, train the LSTM, evaluate it against
## the baselines and the generator's oracle, and print the comparison. Then
## serve the model: load the store, start 'retain serve' on loopback with a
## token made now (in $(DEMO_DIR), never committed), score a few members as of
## the data's end, and stop the server (also when a step fails).
DEMO_ADDR ?= 127.0.0.1:7071
DEMO_HTTP ?= 127.0.0.1:7072
# Three members on the books at the default data's end, picked from the
# batch scores of `make demo` (.demo/scores.parquet): a low-risk core member,
# a medium risk with a 60-day renewal reminder, a high-risk new member.
DEMO_IDS  ?= M000013 M000226 M000019
demo: build
	./bin/retain generate --members $(DEMO_MEMBERS) --weeks $(DEMO_WEEKS) --seed $(DEMO_SEED) --out $(DEMO_DIR)/data --overwrite
	./bin/retain validate $(DEMO_DIR)/data
	./bin/retain features --data $(DEMO_DIR)/data --out $(DEMO_DIR)/features.rtfs
	./bin/retain train --features $(DEMO_DIR)/features.rtfs --out $(DEMO_DIR)/model.rtmb
	./bin/retain evaluate --model $(DEMO_DIR)/model.rtmb --features $(DEMO_DIR)/features.rtfs --data $(DEMO_DIR)/data --out $(DEMO_DIR)/eval
	@echo "report: $(DEMO_DIR)/eval/report.md"
	./bin/retain score --model $(DEMO_DIR)/model.rtmb --data $(DEMO_DIR)/data --out $(DEMO_DIR)/scores.parquet
	./bin/retain report --data $(DEMO_DIR)/data --model $(DEMO_DIR)/model.rtmb --out $(DEMO_DIR)/report.html
	rm -f $(DEMO_DIR)/store.db
	./bin/retain load --store $(DEMO_DIR)/store.db --data $(DEMO_DIR)/data
	@set -e; umask 077; \
	head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > $(DEMO_DIR)/token; \
	printf 'clients:\n  - name: demo\n    sha256: %s\n    scopes: [score, report]\n' \
		"$$(tr -d '\n' < $(DEMO_DIR)/token | sha256sum | cut -d' ' -f1)" > $(DEMO_DIR)/tokens.yaml; \
	./bin/retain serve --store $(DEMO_DIR)/store.db --model $(DEMO_DIR)/model.rtmb --tokens $(DEMO_DIR)/tokens.yaml \
		--addr $(DEMO_ADDR) --http $(DEMO_HTTP) --metrics - --log-level error & pid=$$!; \
	trap 'rc=$$?; set +e; kill -TERM $$pid 2>/dev/null; wait $$pid; echo "server stopped (exit $$?)"; exit $$rc' EXIT; \
	score="./bin/retain score --addr $(DEMO_ADDR) --insecure --token-file $(DEMO_DIR)/token"; \
	asof=$$(sed -n 's/.*"end": *"\([^"]*\)".*/\1/p' $(DEMO_DIR)/data/dataset.json); \
	$$score --wait 30s; \
	echo "== members $(DEMO_IDS), as of $$asof"; \
	$$score --as-of $$asof $(DEMO_IDS); \
	if command -v curl >/dev/null; then \
		curl -sSf -u "demo:$$(cat $(DEMO_DIR)/token)" -o $(DEMO_DIR)/dashboard.html \
			"http://$(DEMO_HTTP)/dashboard?as_of=$$asof" && \
		echo "live dashboard (GET http://$(DEMO_HTTP)/dashboard) saved to $(DEMO_DIR)/dashboard.html"; \
	fi

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
	$(GO) test -run '^$$' -bench . -benchtime 3x ./datasets/... ./features/... ./model/... ./train/...

## bench-torch: the Go LSTM against PyTorch on CPU, side by side in one run
## (model/bench/compare.sh). PyTorch is Debian's python3-torch with the
## OpenMP OpenBLAS; as root on Debian the target installs them with apt-get
## when missing, otherwise it says what to install. Wants an idle machine.
bench-torch:
	@if ! python3 -c 'import torch' 2>/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch libopenblas0-openmp; \
		else \
			echo "bench-torch: needs Debian's python3-torch and libopenblas0-openmp (apt-get install -y python3-torch libopenblas0-openmp)"; exit 1; \
		fi; \
	fi
	model/bench/compare.sh

## fuzz: run every fuzz target of the module for FUZZTIME each (not part of
## make test; the seed corpora run in make test). A new input the fuzzer
## finds is minimised for at most FUZZMINTIME: with Go's default of 60 s a
## run looks stalled ("execs ... 0/sec") while it minimises a large input.
FUZZTIME    ?= 30s
FUZZMINTIME ?= 5s
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f"; \
			$(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME); \
		done; \
	done

## proto: regenerate the Go code of proto/ (committed beside the .proto files).
## buf and the protoc plugins are fetched through the Go module proxy at the
## pinned versions below; the plugins run locally, so buf needs no network.
BUF_VERSION                ?= v1.75.0
PROTOC_GEN_GO_VERSION      ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.6.2
GRPC_GATEWAY_VERSION       ?= v2.33.0
BUF            = $(GO) run github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
PROTOC_GEN_GO      = .tools/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)/protoc-gen-go
PROTOC_GEN_GO_GRPC = .tools/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)/protoc-gen-go-grpc
PROTOC_GEN_GATEWAY = .tools/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION)/protoc-gen-grpc-gateway
PROTO_PLUGINS  = $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC) $(PROTOC_GEN_GATEWAY)
PROTO_PATH     = $(CURDIR)/$(dir $(PROTOC_GEN_GO)):$(CURDIR)/$(dir $(PROTOC_GEN_GO_GRPC)):$(CURDIR)/$(dir $(PROTOC_GEN_GATEWAY)):$$PATH

$(PROTOC_GEN_GO):
	GOBIN=$(CURDIR)/$(@D) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(PROTOC_GEN_GO_GRPC):
	GOBIN=$(CURDIR)/$(@D) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

$(PROTOC_GEN_GATEWAY):
	GOBIN=$(CURDIR)/$(@D) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION)

proto: $(PROTO_PLUGINS)
	cd proto && PATH="$(PROTO_PATH)" $(BUF) lint
	cd proto && PATH="$(PROTO_PATH)" $(BUF) generate

## proto-check: fail when the committed *.pb.go differ from what `make proto`
## would generate (or when buf lint fails).
proto-check: $(PROTO_PLUGINS)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cd proto && \
	PATH="$(PROTO_PATH)" $(BUF) lint && \
	PATH="$(PROTO_PATH)" $(BUF) generate -o "$$tmp/gen" && \
	find . -name '*.pb.go' -o -name '*.pb.gw.go' | sort > "$$tmp/committed" && \
	(cd "$$tmp/gen" && find . -name '*.pb.go' -o -name '*.pb.gw.go' | sort) > "$$tmp/generated" && \
	diff -u "$$tmp/committed" "$$tmp/generated" && \
	while read -r f; do diff -u "$$f" "$$tmp/gen/$$f" || exit 1; done < "$$tmp/committed" && \
	echo "proto-check: generated code is up to date"

clean:
	rm -rf bin $(DEMO_DIR)

## bench-serve: load test of the scoring server (serve/bench): a real server
## on 127.0.0.1:0 over a generated data set, ScoreMember and RecommendClasses
## at 1,000 requests/s for 10 s, then the rate doubled until p99 >= 5 ms.
## Figures go to docs/benchmarks.md.
.PHONY: bench-serve
bench-serve:
	$(GO) test -run '^$$' -bench Serve -benchtime 1x ./serve/bench

## eval-bound: the observable bound of the next-course prediction on the
## default data's test split (docs/evaluation.md, "The observable bound"):
## regenerates the default gym in memory with a Bayes posterior of every
## test example's next class category given the member's observed classes,
## and prints its HR@3 beside the oracle's by classes in the window. About
## 5 minutes on 2 cores; BOUND_STEPS sets the sampler's length.
BOUND_STEPS ?= 1024
.PHONY: eval-bound
eval-bound:
	RETAIN_BOUND=1 RETAIN_BOUND_STEPS=$(BOUND_STEPS) $(GO) test -count=1 -timeout 60m -run '^TestNextCourseBound$$' -v ./datasets/synth

## eval-cdnow: the engine on real data (docs/evaluation.md, Real data: CDNOW):
## import the CDNOW master file, then for each of CDNOW_FOLDS folds (customers
## hashed into K disjoint folds by their id; fold i is the test) build the
## features with the calibration/holdout protocol (weeks 1-39 calibration,
## churn = no purchase in weeks 40-78), train the LSTM and compare it with
## BG/NBD, logistic regressions and the 90-days rule on the fold's
## customers; then print mean +- sd across folds (.cdnow/eval/folds.md,
## folds.json with every fold's numbers) and the run time. Each fold's
## output is in .cdnow/foldI/ (log.txt, eval/holdout.md).
## CDNOW_TRAIN_FLAGS passes options to retain train (e.g. --epochs 4).
CDNOW_DIR   ?= ../shared/datasets/cdnow
CDNOW_FILE  ?= CDNOW_master.txt
CDNOW_MAPPING ?= cdnow
CDNOW_OUT   ?= .cdnow
CDNOW_SEED  ?= 1
CDNOW_FOLDS ?= 5
CDNOW_TRAIN_FLAGS ?=
CDNOW_FEATURES = --tz America/New_York --week-start Wednesday --weeks 39 --horizon 39 \
	--cutoff-every 4 --first-cutoff 1997-04-16 --last-cutoff 1997-10-01 --data-end 1998-07-01 \
	--split member --folds $(CDNOW_FOLDS) --val-fraction 0.1 --split-seed $(CDNOW_SEED)
.PHONY: eval-cdnow
eval-cdnow: build
	@set -e; start=$$(date +%s); \
	rm -rf $(CDNOW_OUT); mkdir -p $(CDNOW_OUT); \
	./bin/retain import --mapping $(CDNOW_MAPPING) --out $(CDNOW_OUT)/data $(CDNOW_DIR)/$(CDNOW_FILE); \
	for i in $$(seq 0 $$(( $(CDNOW_FOLDS) - 1 ))); do \
		f0=$$(date +%s); d=$(CDNOW_OUT)/fold$$i; mkdir -p $$d; \
		./bin/retain features --data $(CDNOW_OUT)/data --out $$d/features.rtfs $(CDNOW_FEATURES) --fold $$i >$$d/log.txt 2>&1; \
		./bin/retain train --features $$d/features.rtfs --out $$d/model.rtmb --seed $(CDNOW_SEED) $(CDNOW_TRAIN_FLAGS) >>$$d/log.txt 2>&1; \
		./bin/retain evaluate --protocol holdout --model $$d/model.rtmb --features $$d/features.rtfs \
			--data $(CDNOW_OUT)/data --out $$d/eval >>$$d/log.txt 2>&1; \
		echo "fold $$i: $$(grep '^trained' $$d/log.txt); fold in $$(( $$(date +%s) - f0 ))s"; \
	done; \
	./bin/retain evaluate --protocol folds --out $(CDNOW_OUT)/eval $(CDNOW_OUT)/fold*/eval/holdout.json; \
	echo "eval-cdnow: $(CDNOW_FOLDS) folds, $$(( $$(date +%s) - start ))s in all"

## bench-batch: batch scoring (retain score --model --data --out) end to end
## on the 100,000-member, 104-week synthetic set: read, features, model,
## reasons, Parquet write. The data set is written once into
## $(BENCH_BATCH_CACHE) and reused. Figures go to docs/benchmarks.md.
BENCH_BATCH_CACHE ?= /tmp/retain-bench-100k
.PHONY: bench-batch
bench-batch:
	RETAIN_BENCH_CACHE=$(BENCH_BATCH_CACHE) $(GO) test -run '^$$' -bench 'Score100k' -benchtime 1x -timeout 30m ./serve/batch
