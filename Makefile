# rollcall. CI (.ci/run) runs `make lint`, then `make test`, which installs
# the servers the integration tests need and runs every test with the race
# detector.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO ?= go
FUZZTIME ?= 30s

.PHONY: bench-smoke build test test-short test-integration fuzz bench lint fmt vet cross dist test-dist clean

# The version stamped into `make dist` binaries and packages.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)

build:
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/...

test:
	scripts/install-servers.sh
	$(GO) test -race -timeout 15m ./...
	$(MAKE) bench-smoke
	$(MAKE) test-dist

# Every benchmark once (about a minute): a benchmark that no longer runs
# (one waited forever when device identities changed) fails the build
# instead of waiting for the next measurement. Numbers: make bench.
bench-smoke:
	$(GO) test -run='^$$' -bench=. -benchtime=1x -timeout 5m ./...

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

# Redraw the dashboard screenshots in docs/img (docs/dashboards.md §
# Screenshots): run every dashboard query against a real InfluxDB and
# Prometheus, save the results as snapshots in dashboards/testdata/snapshots,
# and draw them with headless Chromium.
.PHONY: dashboard-screenshots
dashboard-screenshots:
	scripts/install-servers.sh influxd prometheus chromium
	$(GO) test ./dashboards -run TestIntegrationDashboards -count=1 -update
	$(GO) run ./cmd/dashrender

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

# Release build for gateways, in dist/: static binaries (CGO_ENABLED=0) of
# rollcall and fleetsim for linux/amd64, linux/arm64 and linux/arm (GOARM=7)
# in dist/linux-{amd64,arm64,armv7}/, with $(VERSION) stamped (rollcall
# --version), and a Debian package per architecture
# (dist/rollcall_<version>_{amd64,arm64,armhf}.deb, built with nfpm by
# internal/tools/mkdeb). File times in the packages come from the commit.
DIST_ARCHS := amd64/amd64/ arm64/arm64/ armv7/arm/7
dist:
	rm -rf dist
	CGO_ENABLED=0 $(GO) build -o dist/.mkdeb ./internal/tools/mkdeb
	@for spec in $(DIST_ARCHS); do \
		IFS=/ read -r name goarch goarm <<<"$$spec"; \
		echo "dist/linux-$$name: rollcall, fleetsim $(VERSION)"; \
		GOOS=linux GOARCH=$$goarch GOARM=$$goarm CGO_ENABLED=0 $(GO) build -trimpath \
			-ldflags '-s -w -X main.version=$(VERSION)' -o dist/linux-$$name/ ./cmd/rollcall ./cmd/fleetsim; \
		SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || date +%s) \
			dist/.mkdeb -version '$(VERSION)' -arch $$name -bin dist/linux-$$name -o dist; \
	done
	rm -f dist/.mkdeb

# `make cross` is `make dist` (it used to build linux/arm64 only).
cross: dist

# What `make dist` makes, run: the arm64 core tests and a smoke run of the
# arm64 rollcall under qemu-user, the amd64 package installed with dpkg, the
# unit checked with systemd-analyze (scripts/test-dist.sh; installs its tools).
test-dist:
	scripts/test-dist.sh

clean:
	rm -rf bin/ dist/ bench.txt coverage.out coverage.html cover.out *.coverprofile
	find . -name '*.test' -type f -delete
