# sluice: the commands a newcomer and CI run. See README.md.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
SLUICE := $(BUILD_DIR)/apps/sluice/sluice
PREFIX ?= /usr/local
JOBS ?= $(shell nproc)

.PHONY: all setup configure build test bench install format run clean

all: build

setup:
	scripts/setup

configure:
	cmake --preset $(PRESET) >/dev/null

build: configure
	cmake --build --preset $(PRESET) -j $(JOBS)

# setup, build with warnings as errors (the presets set SLUICE_WERROR), every test through ctest
test: setup
	$(MAKE) build
	ctest --preset $(PRESET) -j $(JOBS) --timeout 600

bench: setup
	$(MAKE) build
	bench/run $(SLUICE)

install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

run: setup
	$(MAKE) build
	$(SLUICE) run

clean:
	rm -rf build
