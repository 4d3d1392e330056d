# A thin wrapper over CMake build folders, for people's habits.
#   make demo     set up what is missing, build, show volley on examples/demo.yaml
#   make test     set up, build (warnings are errors), run the whole suite:
#                 release build, ASan/UBSan build, a short fuzz run
#   make build    build/volley          make asan   build-asan/ + its tests
#   make fuzz     longer fuzz runs      make bench  the quick benchmark suite
#   make deps     apt-get the Debian packages below (sudo when not root)
#   make install  PREFIX=/usr/local DESTDIR=
#   make format   clang-format every C file in place
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
PREFIX ?= /usr/local
DESTDIR ?=
FUZZ_SECONDS ?= 300
JOBS ?= $(shell nproc)

# Everything volley, its tests and its benchmarks need, from Debian 12.
DEB_PKGS := build-essential cmake ninja-build pkg-config liburing-dev libjemalloc-dev \
            libsqlite3-dev libyaml-dev libpcre2-dev clang libclang-rt-14-dev llvm \
            python3 jq bc sqlite3 gnuplot-nox procps clang-format chromium slurm-wlm munge zsh
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
GEN := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: all deps build demo test check asan fuzz bench install format clean

all: build

deps:
	@missing=$$(for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing" $$missing; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	@bash examples/demo.sh $(BUILD)/volley

test: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure --timeout 600
	$(MAKE) asan
	$(MAKE) fuzz FUZZ_SECONDS=10

check: test

asan: deps
	cmake -S . -B $(ASAN_BUILD) $(GEN) -DVL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest -j $(JOBS) --output-on-failure -LE 'bench|slow' --timeout 900

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) $(GEN) -DVL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: build
	$(BUILD)/volley bench --quick

install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
