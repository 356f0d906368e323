# flmctl — build, test and maintenance targets. `make help` lists them.

GO         ?= go
PKG        := github.com/flmctl/flmctl
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT     ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS    := -s -w -X $(PKG)/internal/cli/version.Version=$(VERSION) -X $(PKG)/internal/cli/version.Commit=$(COMMIT)
STATICCHECK := $(GO) tool -modfile=tools/go.mod staticcheck

.PHONY: help build test lint proto completions docs verify fmt

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/flmctl
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/flmctl ./cmd/flmctl

test: ## run every test with the race detector
	$(GO) test -race ./...

lint: ## go vet + staticcheck + gofmt
	$(GO) vet ./...
	$(STATICCHECK) ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

proto: ## regenerate proto/flame/v1/*.pb.go (installs protoc with apt when missing)
	./scripts/genproto.sh

completions: ## write shell completion scripts into completions/
	@mkdir -p completions
	$(GO) run ./cmd/flmctl completion bash > completions/flmctl.bash
	$(GO) run ./cmd/flmctl completion zsh > completions/_flmctl
	$(GO) run ./cmd/flmctl completion fish > completions/flmctl.fish
	$(GO) run ./cmd/flmctl completion powershell > completions/flmctl.ps1

docs: ## write one markdown page per command into docs/cli/
	$(GO) run ./internal/cli/gendocs docs/cli

verify: proto completions docs ## regenerate everything, then fail if the tree changed or is untidy
	$(GO) mod tidy -diff
	$(MAKE) lint
	git diff --exit-code -- proto completions docs go.mod go.sum
