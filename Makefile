# Thin wrapper over CMake. `make` = release build; `make test` = deps + ASan/UBSan suite
# (with the lock-free tests also built and run under TSan); `make bench` = release benches.
JOBS ?= $(shell nproc)
GEN := -G Ninja

.PHONY: all deps release test asan tsan bench demo format clean

all: release

# Idempotent and quiet when everything is installed (0.1 s): every build target runs it.
deps:
	@scripts/deps.sh

release: deps
	cmake -S . -B build/release $(GEN) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build/release -j $(JOBS)

tsan: deps
	cmake -S . -B build/tsan $(GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHS_SANITIZE=thread >/dev/null
	cmake --build build/tsan -j $(JOBS)

# The ASan/UBSan tree also registers the TSan binaries of the lock-free tests, so one
# ctest run covers both and ends with one summary line.
asan: tsan
	cmake -S . -B build/asan $(GEN) -DCMAKE_BUILD_TYPE=Debug -DHS_SANITIZE=address \
	  -DHS_TSAN_DIR=$(CURDIR)/build/tsan >/dev/null
	cmake --build build/asan -j $(JOBS)

test: deps
	$(MAKE) --no-print-directory asan
	cd build/asan && ctest --output-on-failure -j $(JOBS)

bench: release
	bench/run.sh build/release

demo: release
	build/release/hsd --demo

format:
	find src include tests bench -name '*.[ch]' | xargs clang-format -i

clean:
	rm -rf build
