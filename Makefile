# Thin wrappers: the scripts are the source of truth, so CI and developers
# run exactly the same commands.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)

.PHONY: build test ci clean

build:
	go build -ldflags "-X main.version=$(VERSION)" -o bin/stacklens ./cmd/stacklens

test:
	./scripts/test.sh

ci:
	./.ci/run

clean:
	rm -rf bin
