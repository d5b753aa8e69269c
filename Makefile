# The two commands: `make run` (the whole system, in the foreground) and `make test` (every test
# against real NATS, Postgres and Redis). Both install what is missing and build first.
BUILD       ?= build
BUILD_TYPE  ?= RelWithDebInfo
VX_SANITIZE ?=
JOBS        ?= $(shell nproc)
# Warnings are errors in CI (CI=true) and whenever WERROR=ON.
WERROR      ?= $(if $(filter true,$(CI)),ON,OFF)
CTEST_ARGS  ?=

comma := ,
ifneq ($(VX_SANITIZE),)
BUILD := build-$(subst $(comma),-,$(VX_SANITIZE))
endif

.PHONY: all deps configure build test test-unit test-sanitize test-tsan run stack-up stack-down clean fuzz bench-ingest \
	format format-check

all: build

deps:
	@bash scripts/deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DVX_WERROR=$(WERROR) \
	    -DVX_SANITIZE=$(VX_SANITIZE) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# Unit tests need no server.
test-unit: build
	@cd $(BUILD) && ctest -L unit --output-on-failure $(CTEST_ARGS)

# Every test: starts the local stack (if not running), runs unit and integration tests, and
# stops what it started.
test: build
	@VX_BIN_DIR=$(CURDIR)/$(BUILD)/bin BUILD=$(BUILD) bash scripts/test.sh $(CTEST_ARGS)

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize:
	@$(MAKE) --no-print-directory test VX_SANITIZE=address,undefined BUILD_TYPE=Debug

# The same suite built with ThreadSanitizer (in build-thread/): a data race fails the test. Optimised
# (RelWithDebInfo) because TSan slows everything down several times; tests/tsan.supp lists the
# races inside the libraries we use.
test-tsan:
	@$(MAKE) --no-print-directory test VX_SANITIZE=thread BUILD_TYPE=RelWithDebInfo

run: build
	@VX_BIN_DIR=$(CURDIR)/$(BUILD)/bin bash scripts/run.sh

stack-up: build
	@VX_BIN_DIR=$(CURDIR)/$(BUILD)/bin bash scripts/stack.sh up

stack-down:
	@bash scripts/stack.sh down

fuzz: deps
	@bash scripts/fuzz.sh

# clang-format with .clang-format: rewrite every C file, or only check (CI).
format:
	@bash scripts/format.sh

format-check:
	@bash scripts/format.sh --check

bench-ingest: build
	@bash bench/ingest.sh

clean:
	@bash scripts/stack.sh down || true
	rm -rf build build-*
