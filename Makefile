# Notifier: see README.md.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: run test build lint fmt clean bench fuzz

## run: start the service in memory on :8080 (no configuration needed)
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/notifier serve

## test: every test, with the race detector
test:
	$(GO) test -race -count=1 ./...

## fuzz: each fuzz test for FUZZTIME (default 60s), one after another (README "Fuzz tests");
##       FUZZFLAGS are passed on, e.g. FUZZFLAGS=-parallel=1 on a shared machine
FUZZTIME  ?= 60s
FUZZFLAGS ?=
FUZZ_TARGETS := \
	FuzzDecodeEvent:./modules/eventintake/internal/domain \
	FuzzParseExpiresIn:./modules/posting/internal/domain \
	FuzzSingleUser:./modules/posting/internal/domain \
	FuzzExpiresInJSON:./modules/posting/internal/ports \
	FuzzCreatePostingHTTP:./modules/posting/internal/ports \
	FuzzCreatePosting:./modules/posting/internal/app \
	FuzzResolveTemplateContext:./modules/posting/internal/app \
	FuzzDirectoryPage:./modules/posting/internal/adapters/directory \
	FuzzAllowed:./platform/upstream \
	FuzzReadReply:./platform/smtptx
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		name=$${t%%:*}; pkg=$${t#*:}; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg; \
	done

## build: the binary in bin/notifier
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/notifier ./cmd/notifier

## lint: gofmt, go vet and the module boundaries
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if [ -x ../shared/tools/check-boundaries ]; then ../shared/tools/check-boundaries; fi

## bench: fan-out benchmark against RabbitMQ and PostgreSQL (docs/BENCHMARKS.md);
##        more flags in BENCH_FLAGS, e.g. BENCH_FLAGS="-recipients 1000000 -modes amqp"
bench:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/notifier ./cmd/notifier
	$(GO) run ./cmd/notifier-bench -binary bin/notifier $(BENCH_FLAGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
