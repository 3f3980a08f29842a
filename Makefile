# rollcall. CI (.ci/run) runs `make lint`, then `make test`, which installs
# the servers the integration tests need and runs every test with the race
# detector.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO ?= go
FUZZTIME ?= 30s

.PHONY: build test test-short test-integration fuzz bench lint fmt vet cross clean

build:
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/...

test:
	scripts/install-servers.sh
	$(GO) test -race -timeout 15m ./...

test-short:
	$(GO) test -short -race ./...

test-integration:
	$(GO) test -race -run Integration -count=1 ./...

# Every Fuzz target in the repo, found by grep, each for $(FUZZTIME).
fuzz:
	@files=$$(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . | sort || true); \
	if [[ -z $$files ]]; then echo "no fuzz targets"; exit 0; fi; \
	for file in $$files; do \
		dir=$$(dirname "$$file"); \
		for name in $$(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' "$$file"); do \
			echo "fuzz $$dir $$name"; \
			$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) "$$dir"; \
		done; \
	done

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=6 ./... | tee bench.txt
	@if command -v benchstat >/dev/null; then benchstat bench.txt; \
	else echo "benchstat not installed (go install golang.org/x/perf/cmd/benchstat@latest)"; fi

# End-to-end benchmark (DESIGN.md § Performance and limits): rollcall and a
# bare paho subscriber that only counts, back to back on the same mosquitto
# and workload; prints rates, CPU seconds per million messages and the
# ratios. A few minutes with the defaults; results go in docs/benchmarks.md.
# Flags through BENCHE2E_FLAGS, e.g. BENCHE2E_FLAGS='-runs 3 -scenarios rate'
# (go run ./cmd/benche2e -h lists them).
.PHONY: bench-e2e
bench-e2e:
	scripts/install-servers.sh mosquitto
	$(GO) run ./cmd/benche2e $(BENCHE2E_FLAGS)

# gofmt and vet, then golangci-lint with .golangci.yml (the pinned version,
# installed by scripts/install-lint.sh on first use). LINT_FLAGS passes more
# flags, e.g. LINT_FLAGS=--fix or LINT_FLAGS='--new-from-rev=main'.
lint:
	@out=$$(gofmt -l .); if [[ -n $$out ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@lint=$$(GO=$(GO) scripts/install-lint.sh); echo "golangci-lint run $(LINT_FLAGS) ./..."; \
	"$$lint" run $(LINT_FLAGS) ./...

fmt:
	gofmt -w .

vet:
	$(GO) vet ./...

# Static linux/arm64 binaries for gateways, in bin/linux-arm64/.
cross:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -o bin/linux-arm64/ ./cmd/...

clean:
	rm -rf bin/ bench.txt coverage.out coverage.html cover.out *.coverprofile
	find . -name '*.test' -type f -delete
