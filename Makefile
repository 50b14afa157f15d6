# Thin front end over CMake: the README's commands.
#   make demo    build (Release, build/release) and run the demo
#   make test    install what is missing, then every test stage (scripts/test.sh)
#   make stress-test  the suite, ROUNDS times, with every CPU kept busy (scripts/stress-test.sh)
#   make bench   build Release and run every program in bench/
#   make soak    C10K and beyond: 19,000 connections on one loop, 100,000
#                across processes (scripts/soak.sh; not part of make test)
#   make fuzz    every libFuzzer harness in fuzz/ for FUZZ_SECONDS each
#                (scripts/fuzz.sh; clang)
#   make install install headers, libraries, corio.pc and the CMake package

BUILD_DIR ?= build
PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
RELEASE := $(BUILD_DIR)/release

.PHONY: all release demo test stress-test soak fuzz deps bench install format clean

all: release

release:
	cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release -DCORIO_BUILD_TESTS=OFF
	cmake --build $(RELEASE) -j $(JOBS)

demo: release
	./$(RELEASE)/examples/demo

deps:
	./scripts/deps.sh

test: deps
	BUILD_DIR=$(BUILD_DIR) JOBS=$(JOBS) ./scripts/test.sh

stress-test: deps
	BUILD_DIR=$(BUILD_DIR) JOBS=$(JOBS) ./scripts/stress-test.sh

soak: deps
	BUILD_DIR=$(BUILD_DIR) JOBS=$(JOBS) ./scripts/soak.sh

fuzz: deps
	BUILD_DIR=$(BUILD_DIR) JOBS=$(JOBS) ./scripts/fuzz.sh

bench: release
	@set -e; for b in $(RELEASE)/bench/*; do \
	  case "$$b" in */dns_probe|*/c10k) continue ;; esac; \
	  if [ -f "$$b" ] && [ -x "$$b" ]; then echo "# $$b"; "$$b"; fi; \
	done; \
	echo "# bench/dns_probe.sh"; \
	sh bench/dns_probe.sh $(RELEASE) || echo "# bench/dns_probe.sh could not run"

install: release
	cmake --install $(RELEASE) --prefix $(PREFIX)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD_DIR)
