# offbox build. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/offbox/offbox/internal/version.Version=$(VERSION)
GOFLAGS_BUILD := -trimpath -tags grpcnotrace
# The agent's cold packages are compiled without inlining: they run at
# start-up (YAML), in a TLS handshake (x509, asn1, big) or once per batch
# or clock round (protobuf reflection for the small stream messages, NTP,
# gopsutil), never per line, and inlining them costs 260 KiB on armv7.
# The per-line path (agent, seal, filetail, crypto, runtime, grpc) keeps it.
AGENT_GCFLAGS := $(foreach p,google.golang.org/protobuf/... gopkg.in/yaml.v3 github.com/shirou/... \
	github.com/tklauser/... github.com/beevik/ntp golang.org/x/net/... crypto/x509 encoding/asn1 math/big regexp/...,-gcflags=$(p)=-l)
BIN := bin
TOOLS := $(CURDIR)/.tools
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
CROSS_TARGETS := amd64 arm64 arm/7 arm/6 mips mipsle
# Device builds (cross, and the packages made from them) leave out the
# agent's -pprof profiler (tag nopprof): 192 KiB on armv7, over the budget.
# The agent's size budget (issue 6): 10 MiB, enforced for arm64 and armv7.
SIZE_LIMIT := 10485760
SIZE_ENFORCED := arm64 armv7

.PHONY: help build cross check-size test test-integration fuzz fuzz-network bench proto demo lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

build: ## build offbox and offbox-ingest for this machine into bin/
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) $(AGENT_GCFLAGS) -ldflags '$(LDFLAGS)' -o $(BIN)/offbox ./cmd/offbox
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -ldflags '$(LDFLAGS)' -o $(BIN)/offbox-ingest ./cmd/offbox-ingest

cross: ## static agent builds for amd64 arm64 armv7 armv6 mips mipsle into bin/cross/
	@for t in $(CROSS_TARGETS); do \
		arch=$${t%/*}; arm=$${t#*/}; [ "$$arm" = "$$t" ] && arm=; \
		name=offbox-linux-$$arch$${arm:+v$$arm}; \
		echo "build $$name"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch GOARM=$$arm GOMIPS=softfloat \
			$(GO) build $(GOFLAGS_BUILD),nopprof $(AGENT_GCFLAGS) -ldflags '$(LDFLAGS)' -o $(BIN)/cross/$$name ./cmd/offbox || exit 1; \
	done

check-size: cross ## print every cross build's size; fail if arm64 or armv7 exceeds 10 MiB
	@fail=0; for t in $(CROSS_TARGETS); do \
		arch=$${t%/*}; arm=$${t#*/}; [ "$$arm" = "$$t" ] && arm=; \
		a=$$arch$${arm:+v$$arm}; n=$$(stat -c %s $(BIN)/cross/offbox-linux-$$a) || exit 1; \
		verdict="(not enforced)"; \
		case " $(SIZE_ENFORCED) " in *" $$a "*) \
			if [ $$n -le $(SIZE_LIMIT) ]; then verdict="ok (limit $(SIZE_LIMIT))"; \
			else verdict="TOO BIG (limit $(SIZE_LIMIT))"; fail=1; fi;; esac; \
		printf '%-8s %10d bytes  %5.2f MiB  %s\n' $$a $$n $$(awk "BEGIN{printf \"%.2f\", $$n/1048576}") "$$verdict"; \
	done; exit $$fail

# Packages (issue 6): nfpm's CLI at a pinned version through the module
# proxy, built from the static cross builds.
NFPM_VERSION := v2.45.2
NFPM := $(TOOLS)/nfpm-$(NFPM_VERSION)/nfpm
PACKAGE_ARCHS := amd64 arm64
OPENWRT_TARGETS := mips mipsle armv7
DIST := dist

.PHONY: cross-ingest packages package openwrt

cross-ingest: ## static collector builds for the package architectures into bin/cross/
	@for arch in $(PACKAGE_ARCHS); do \
		echo "build offbox-ingest-linux-$$arch"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch \
			$(GO) build $(GOFLAGS_BUILD) -ldflags '$(LDFLAGS)' -o $(BIN)/cross/offbox-ingest-linux-$$arch ./cmd/offbox-ingest || exit 1; \
	done

$(NFPM):
	GOBIN=$(dir $(NFPM)) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

packages: cross cross-ingest $(NFPM) ## .deb and .rpm of offbox and offbox-ingest for amd64 and arm64 into dist/
	NFPM=$(NFPM) VERSION=$(VERSION) DIST=$(DIST) ./scripts/packages.sh $(PACKAGE_ARCHS)

package: packages

openwrt: cross $(NFPM) ## OpenWrt .ipk of the agent (procd init script) for mips, mipsle and armv7 into dist/
	NFPM=$(NFPM) VERSION=$(VERSION) DIST=$(DIST) ./scripts/openwrt-package.sh $(OPENWRT_TARGETS)

# go test's JSON goes through internal/testreport: a line per package, the
# output of what failed, and a summary of the skipped tests with the Debian
# package each one needs (scripts/install-test-deps.sh installs them all).
TESTREPORT := set -o pipefail; $(GO) build -o $(BIN)/testreport ./internal/testreport &&

test: ## unit tests, then the integration and end-to-end tests (real TLS, logrotate, binaries); lists what it skipped
	$(GO) vet ./...
	@$(TESTREPORT) $(GO) test -count=1 -timeout 30m -json ./... | $(BIN)/testreport

# Integration tests are named ...Integration (docs/STYLE.md) and drive a real
# peer (logrotate, chronyd, journald tools, Alertmanager, chromium, the
# packagers); OFFBOX_INTEGRATION=1 turns a missing peer into a failure.
test-integration: ## only the tests that drive a real peer, required to find it (OFFBOX_INTEGRATION=1)
	OFFBOX_INTEGRATION=1 $(GO) test -count=1 -timeout 20m -run 'Integration$$' ./...

test-short: ## unit tests only
	@$(TESTREPORT) $(GO) test -short -count=1 -json ./... | $(BIN)/testreport

fuzz: ## run every fuzz target for FUZZTIME each (default 10s)
	@./scripts/fuzz.sh $(or $(FUZZTIME),10s)

fuzz-network: ## fuzz every decoder of network input for FUZZTIME each (default 5s; CI runs it)
	@./scripts/fuzz-network.sh $(or $(FUZZTIME),5s)

bench: build ## end-to-end and hot-path benchmarks; prints figures with the commands that made them
	@./scripts/bench.sh

proto: ## regenerate transport/proto/offbox/v1 (messages) and its offboxv1grpc (services) with pinned generators (needs protoc)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	PATH=$(TOOLS):$$PATH protoc -I transport/proto \
		--go_out=transport/proto --go_opt=paths=source_relative \
		--go-grpc_out=transport/proto --go-grpc_opt=paths=source_relative \
		offbox/v1/offbox.proto offbox/v1/offboxv1grpc/service.proto

demo: build ## throwaway CA, a collector and an agent on loopback, a demo log shipped and shown
	@DEMO_DIR=$(or $(DEMO_DIR),demo) ./scripts/demo.sh

lint: ## gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'))" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	staticcheck ./...

clean: ## remove build output
	rm -rf $(BIN) .tools $(DIST)
