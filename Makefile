# pystream -- the two set-up commands that work on a fresh machine:
#   make demo   venv + install (package and cli extra only; skipped when up to
#               date) + ~1 GB sample .npy (skipped if present) +
#               `pystream describe` + a pipeline
#   make test   venv + install with test extras and the plugins/ packages + C tests
#               (ASan/UBSan) + the documentation (examples executed) + Python
#               suite (with the headless-browser check of the built docs) +
#               the plugins' suites
#   make docs   the documentation only, into docs/_build/html
# CI (.ci/run) also runs `make test-asan`: the Python suite on a sanitizer build.

PYTHON ?= python3
VENV ?= .venv
ASAN_VENV ?= .venv-asan
PY := $(VENV)/bin/python
CC ?= gcc
CFLAGS_C := -std=c11 -Wall -Wextra -Werror -ffp-contract=off
SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1
SAMPLE ?= data/sample.npy
BUILD := build/ctest

.PHONY: demo test ctest pytest docs docs-clean test-asan bench venv venv-demo clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# What the demo needs and no more: the package (its C extension) and the cli
# extra (tqdm, the progress bar); scripts/ use numpy and pystream only, no
# plugin.  The stamp makes a second `make demo` skip pip; it depends on the
# files an install reads, so editing the C sources or the metadata rebuilds.
INSTALL_SRC := pyproject.toml setup.py MANIFEST.in $(wildcard csrc/*.c csrc/*.h csrc/*.py)
DEMO_STAMP := $(VENV)/.pystream-demo-installed

# The distribution is pystream-numeric (import name pystream); a venv made
# before the rename holds it as "pystream", which would shadow it: removed first.
UNINSTALL_OLD := $(PY) -m pip uninstall --quiet --yes pystream 2>/dev/null || true

$(DEMO_STAMP): $(INSTALL_SRC) | $(PY)
	$(UNINSTALL_OLD)
	$(PY) -m pip install --quiet -e ".[cli]"
	touch $@

venv-demo: $(DEMO_STAMP)

# Everything `make test` needs: test extras and both plugins (a superset of
# the demo's install, so the demo's stamp is refreshed too).
venv: $(PY)
	$(UNINSTALL_OLD)
	$(PY) -m pip install --quiet -e ".[test,cli]"
	$(PY) -m pip install --quiet -e "plugins/pystream-signal[test]" -e "plugins/pystream-text[test]"
	touch $(DEMO_STAMP)

demo: venv-demo
	$(PY) scripts/make_sample.py $(SAMPLE)
	$(VENV)/bin/pystream describe --nan-policy omit $(SAMPLE)
	$(PY) scripts/demo_pipeline.py $(SAMPLE)

test: venv ctest docs pytest

# Sphinx + sphinx-gallery, every example executed, warnings are errors, no
# network (no intersphinx, data from installed packages).  The build time is
# printed at the end.  `make docs-clean` forgets the executed gallery and the
# generated API pages; the benchmark figures are always re-measured.
DOCS_OUT := docs/_build
docs: venv
	$(PY) -m pip install --quiet -e ".[docs]"
	@start=$$(date +%s); \
	cd docs && PYSTREAM_STRICT_PLUGINS=1 ../$(PY) -m sphinx -W --keep-going -q -b html \
		-d _build/doctrees . _build/html && \
	echo "docs: built in $$(( $$(date +%s) - start )) s -> $(DOCS_OUT)/html/index.html"

docs-clean:
	rm -rf $(DOCS_OUT) docs/auto_examples docs/api/generated docs/_generated docs/sg_execution_times.rst

# C unit tests under ASan + UBSan, three times: with the kernels the CPU
# gets (AVX2 where supported), with SSE2 only (-DPS_NO_AVX2) and with the
# portable C ones (-DPS_NO_SIMD); all must print the same fingerprint.
# Then the stage families (windows, order statistics, scans/EWM/blocks)
# and the sketches (KLL, DDSketch, histogram), the per-bin reductions and
# the EWM over irregular times (issue 19),
# also in builds that force each code path (portable, SSE2, the lane scheme
# for small windows too (PS_WINDOW_DIRECT=1), heaps only, search
# only, scalar one-pass only, AVX-512 one-pass, no AVX-512).
CTEST_SRC := -Icsrc csrc/tests/test_moments.c csrc/moments.c csrc/simd.c -lm
ctest:
	mkdir -p $(BUILD)
	$(CC) $(CFLAGS_C) $(SAN) $(CTEST_SRC) -o $(BUILD)/test_moments
	$(CC) $(CFLAGS_C) $(SAN) -DPS_NO_AVX2 $(CTEST_SRC) -o $(BUILD)/test_moments_sse2
	$(CC) $(CFLAGS_C) $(SAN) -DPS_NO_SIMD $(CTEST_SRC) -o $(BUILD)/test_moments_portable
	$(BUILD)/test_moments
	$(BUILD)/test_moments_sse2
	$(BUILD)/test_moments_portable
	test "$$($(BUILD)/test_moments --fingerprint)" = "$$($(BUILD)/test_moments_sse2 --fingerprint)"
	test "$$($(BUILD)/test_moments --fingerprint)" = "$$($(BUILD)/test_moments_portable --fingerprint)"
	@echo "ctest: AVX2, SSE2 and portable kernels agree bit for bit"
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_comoments.c csrc/comoments.c csrc/moments.c csrc/simd.c -lm -o $(BUILD)/test_comoments
	$(CC) $(CFLAGS_C) $(SAN) -DPS_NO_AVX2 -Icsrc csrc/tests/test_comoments.c csrc/comoments.c csrc/moments.c csrc/simd.c -lm -o $(BUILD)/test_comoments_sse2
	$(CC) $(CFLAGS_C) $(SAN) -DPS_NO_SIMD -Icsrc csrc/tests/test_comoments.c csrc/comoments.c csrc/moments.c csrc/simd.c -lm -o $(BUILD)/test_comoments_portable
	$(BUILD)/test_comoments
	$(BUILD)/test_comoments_sse2
	$(BUILD)/test_comoments_portable
	test "$$($(BUILD)/test_comoments --fingerprint)" = "$$($(BUILD)/test_comoments_sse2 --fingerprint)"
	test "$$($(BUILD)/test_comoments --fingerprint)" = "$$($(BUILD)/test_comoments_portable --fingerprint)"
	@echo "ctest: co-moments: AVX2, SSE2 and portable kernels agree bit for bit"
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_window.c csrc/window.c csrc/simd.c -lm -o $(BUILD)/test_window
	$(CC) $(CFLAGS_C) $(SAN) -DPS_NO_SIMD -Icsrc csrc/tests/test_window.c csrc/window.c csrc/simd.c -lm -o $(BUILD)/test_window_portable
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_window_order.c csrc/window_order.c csrc/simd.c -lm -o $(BUILD)/test_window_order
	$(CC) $(CFLAGS_C) $(SAN) -DPS_ORDER_SORTED_MAX=0 -Icsrc csrc/tests/test_window_order.c csrc/window_order.c csrc/simd.c -lm -o $(BUILD)/test_window_order_heaps
	$(CC) $(CFLAGS_C) $(SAN) -DPS_NO_SIMD -Icsrc csrc/tests/test_window_order.c csrc/window_order.c csrc/simd.c -lm -o $(BUILD)/test_window_order_portable
	$(CC) $(CFLAGS_C) $(SAN) -DPS_ORDER_PASS_MAX=0 -DPS_ORDER_VPASS_MAX=0 -Icsrc csrc/tests/test_window_order.c csrc/window_order.c csrc/simd.c -lm -o $(BUILD)/test_window_order_search
	$(CC) $(CFLAGS_C) $(SAN) -DPS_ORDER_PASS_MAX=1000 -DPS_NO_AVX512 -Icsrc csrc/tests/test_window_order.c csrc/window_order.c csrc/simd.c -lm -o $(BUILD)/test_window_order_pass
	$(CC) $(CFLAGS_C) $(SAN) -DPS_ORDER_VPASS_MAX=1000 -Icsrc csrc/tests/test_window_order.c csrc/window_order.c csrc/simd.c -lm -o $(BUILD)/test_window_order_vpass
	$(CC) $(CFLAGS_C) $(SAN) -DPS_NO_AVX512 -Icsrc csrc/tests/test_window_order.c csrc/window_order.c csrc/simd.c -lm -o $(BUILD)/test_window_order_noavx512
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_scan.c csrc/scan.c csrc/ewm.c csrc/block.c csrc/simd.c -lm -o $(BUILD)/test_scan
	$(CC) $(CFLAGS_C) $(SAN) -DPS_NO_AVX2 -Icsrc csrc/tests/test_window.c csrc/window.c csrc/simd.c -lm -o $(BUILD)/test_window_sse2
	$(CC) $(CFLAGS_C) $(SAN) -DPS_WINDOW_DIRECT=1 -Icsrc csrc/tests/test_window.c csrc/window.c csrc/simd.c -lm -o $(BUILD)/test_window_lanes
	$(BUILD)/test_window
	$(BUILD)/test_window_sse2
	$(BUILD)/test_window_lanes
	$(BUILD)/test_window_portable
	test "$$($(BUILD)/test_window --fingerprint)" = "$$($(BUILD)/test_window_sse2 --fingerprint)"
	test "$$($(BUILD)/test_window --fingerprint)" = "$$($(BUILD)/test_window_portable --fingerprint)"
	@echo "ctest: moving sum/mean/var/std: AVX2, SSE2 and portable kernels agree bit for bit"
	$(BUILD)/test_window_order
	$(BUILD)/test_window_order_heaps
	$(BUILD)/test_window_order_portable
	$(BUILD)/test_window_order_search
	$(BUILD)/test_window_order_pass
	$(BUILD)/test_window_order_vpass
	$(BUILD)/test_window_order_noavx512
	$(BUILD)/test_scan
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_ewm.c csrc/ewm.c csrc/simd.c -lm -o $(BUILD)/test_ewm
	$(CC) $(CFLAGS_C) $(SAN) -DPS_NO_AVX2 -Icsrc csrc/tests/test_ewm.c csrc/ewm.c csrc/simd.c -lm -o $(BUILD)/test_ewm_sse2
	$(CC) $(CFLAGS_C) $(SAN) -DPS_NO_SIMD -Icsrc csrc/tests/test_ewm.c csrc/ewm.c csrc/simd.c -lm -o $(BUILD)/test_ewm_portable
	$(BUILD)/test_ewm
	$(BUILD)/test_ewm_sse2
	$(BUILD)/test_ewm_portable
	test "$$($(BUILD)/test_ewm --fingerprint)" = "$$($(BUILD)/test_ewm_sse2 --fingerprint)"
	test "$$($(BUILD)/test_ewm --fingerprint)" = "$$($(BUILD)/test_ewm_portable --fingerprint)"
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_stage.c csrc/stage.c csrc/window.c csrc/window_order.c csrc/scan.c csrc/ewm.c csrc/block.c csrc/simd.c -lm -o $(BUILD)/test_stage
	$(BUILD)/test_stage
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_keyed.c csrc/keyed.c csrc/moments.c csrc/stage.c csrc/window.c csrc/window_order.c csrc/scan.c csrc/ewm.c csrc/block.c csrc/simd.c -lm -o $(BUILD)/test_keyed
	$(CC) $(CFLAGS_C) -O2 -Icsrc csrc/tests/test_keyed.c csrc/keyed.c csrc/moments.c csrc/stage.c csrc/window.c csrc/window_order.c csrc/scan.c csrc/ewm.c csrc/block.c csrc/simd.c -lm -o $(BUILD)/test_keyed_plain
	$(BUILD)/test_keyed
	$(BUILD)/test_keyed_plain
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_kll.c csrc/kll.c csrc/simd.c -lm -o $(BUILD)/test_kll
	$(BUILD)/test_kll
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_ddsketch.c csrc/ddsketch.c csrc/simd.c -lm -o $(BUILD)/test_ddsketch
	$(CC) $(CFLAGS_C) $(SAN) -DPS_NO_SIMD -Icsrc csrc/tests/test_ddsketch.c csrc/ddsketch.c csrc/simd.c -lm -o $(BUILD)/test_ddsketch_portable
	$(BUILD)/test_ddsketch
	$(BUILD)/test_ddsketch_portable
	test "$$($(BUILD)/test_ddsketch --fingerprint)" = "$$($(BUILD)/test_ddsketch_portable --fingerprint)"
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_histogram.c csrc/histogram.c csrc/simd.c -lm -o $(BUILD)/test_histogram
	$(CC) $(CFLAGS_C) $(SAN) -DPS_NO_AVX2 -Icsrc csrc/tests/test_histogram.c csrc/histogram.c csrc/simd.c -lm -o $(BUILD)/test_histogram_sse2
	$(CC) $(CFLAGS_C) $(SAN) -DPS_NO_SIMD -Icsrc csrc/tests/test_histogram.c csrc/histogram.c csrc/simd.c -lm -o $(BUILD)/test_histogram_portable
	$(BUILD)/test_histogram
	$(BUILD)/test_histogram_sse2
	$(BUILD)/test_histogram_portable
	test "$$($(BUILD)/test_histogram --fingerprint)" = "$$($(BUILD)/test_histogram_sse2 --fingerprint)"
	test "$$($(BUILD)/test_histogram --fingerprint)" = "$$($(BUILD)/test_histogram_portable --fingerprint)"
	$(CC) $(CFLAGS_C) -O2 -fsyntax-only -Icsrc csrc/stage.c
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_timewin.c csrc/timewin.c -lm -o $(BUILD)/test_timewin
	$(CC) $(CFLAGS_C) $(SAN) -DPS_TW_SORTED_MAX=0 -Icsrc csrc/tests/test_timewin.c csrc/timewin.c -lm -o $(BUILD)/test_timewin_fenwick
	$(CC) $(CFLAGS_C) $(SAN) -DPS_TW_SORTED_MAX=1000000 -Icsrc csrc/tests/test_timewin.c csrc/timewin.c -lm -o $(BUILD)/test_timewin_sorted
	$(BUILD)/test_timewin
	$(BUILD)/test_timewin_fenwick
	$(BUILD)/test_timewin_sorted
	test "$$($(BUILD)/test_timewin --fingerprint)" = "$$($(BUILD)/test_timewin_fenwick --fingerprint)"
	test "$$($(BUILD)/test_timewin --fingerprint)" = "$$($(BUILD)/test_timewin_sorted --fingerprint)"
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_comoving.c csrc/comoving.c csrc/simd.c -lm -o $(BUILD)/test_comoving
	$(CC) $(CFLAGS_C) $(SAN) -DPS_NO_SIMD -Icsrc csrc/tests/test_comoving.c csrc/comoving.c csrc/simd.c -lm -o $(BUILD)/test_comoving_portable
	$(CC) $(CFLAGS_C) $(SAN) -DPS_COMOVING_DENSE=0 -Icsrc csrc/tests/test_comoving.c csrc/comoving.c csrc/simd.c -lm -o $(BUILD)/test_comoving_general
	$(BUILD)/test_comoving
	$(BUILD)/test_comoving_portable
	$(BUILD)/test_comoving_general
	test "$$($(BUILD)/test_comoving --fingerprint)" = "$$($(BUILD)/test_comoving_portable --fingerprint)"
	test "$$($(BUILD)/test_comoving --fingerprint)" = "$$($(BUILD)/test_comoving_general --fingerprint)"
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_bins.c csrc/bins.c csrc/simd.c -lm -o $(BUILD)/test_bins
	$(CC) $(CFLAGS_C) $(SAN) -DPS_NO_SIMD -Icsrc csrc/tests/test_bins.c csrc/bins.c csrc/simd.c -lm -o $(BUILD)/test_bins_portable
	$(BUILD)/test_bins
	$(BUILD)/test_bins_portable
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_ewm_time.c csrc/ewm_time.c -lm -o $(BUILD)/test_ewm_time
	$(BUILD)/test_ewm_time
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_crossprod.c csrc/crossprod.c csrc/moments.c csrc/simd.c -lm -o $(BUILD)/test_crossprod
	$(CC) $(CFLAGS_C) $(SAN) -DPS_XP_NO_INT128 -Icsrc csrc/tests/test_crossprod.c csrc/crossprod.c csrc/moments.c csrc/simd.c -lm -o $(BUILD)/test_crossprod_portable
	$(BUILD)/test_crossprod
	$(BUILD)/test_crossprod_portable
	test "$$($(BUILD)/test_crossprod --fingerprint)" = "$$($(BUILD)/test_crossprod_portable --fingerprint)"
	@echo "ctest: exact cross-products: __int128 and portable 128-bit words agree bit for bit"
	$(CC) $(CFLAGS_C) $(SAN) -Icsrc csrc/tests/test_ewm_pairs.c csrc/ewm_pairs.c -lm -o $(BUILD)/test_ewm_pairs
	$(BUILD)/test_ewm_pairs

# The core suite, then the two plugin packages' own suites; a plugin that
# fails to load is an error here (PYSTREAM_STRICT_PLUGINS=1).
pytest: venv
	PYSTREAM_STRICT_PLUGINS=1 $(PY) -m pytest -q
	PYSTREAM_STRICT_PLUGINS=1 $(PY) -m pytest -q -p no:cacheprovider plugins/pystream-signal/tests
	PYSTREAM_STRICT_PLUGINS=1 $(PY) -m pytest -q -p no:cacheprovider plugins/pystream-text/tests

# The Python suite against an ASan + UBSan build of the extension.  A regular
# (not editable) install into its own venv, so the in-tree build used by
# `make test` is left alone.  The venv's `pytest` script (not `python -m`)
# and --confcutdir=. (the repository root's conftest.py would put the root,
# and so the in-tree build, first on sys.path) keep the source tree off
# sys.path; PYSTREAM_EXPECT_NATIVE makes tests/conftest.py stop the session
# if the tests import any build but the sanitizer one.  PYTHONSAFEPATH=1 keeps
# the tests' child processes (`python -c ...` run in the repository) from
# importing the source tree's pystream the same way.
test-asan:
	test -x $(ASAN_VENV)/bin/python || $(PYTHON) -m venv $(ASAN_VENV)
	$(ASAN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(ASAN_VENV)/bin/python -m pip install --quiet "numpy>=1.24" "cffi>=1.17" "pluggy>=1.3" "pytest>=7" "hypothesis>=6.80" "tqdm>=4.60" "bottleneck>=1.3" "pandas>=2.0" "numbagg>=0.8" "datasketches>=5.0" "dask[array]>=2024.1" "distributed>=2024.1"
	PYSTREAM_SANITIZE=1 $(ASAN_VENV)/bin/python -m pip install --quiet --force-reinstall --no-deps --no-cache-dir .
	cd tests && export LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	PYSTREAM_SKIP_PACKAGING=1 PYTHONSAFEPATH=1 && \
	../$(ASAN_VENV)/bin/python -c "import pystream._pystream_c as c; assert '$(ASAN_VENV)' in c.__file__, c.__file__; print('sanitizer build:', c.__file__)" && \
	PYSTREAM_EXPECT_NATIVE=$(ASAN_VENV) ../$(ASAN_VENV)/bin/pytest -q -p no:cacheprovider --rootdir=.. -c ../pyproject.toml \
	    --confcutdir=. --ignore=docs .

bench: venv
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) benchmarks/bench_core.py

clean:
	rm -rf build dist *.egg-info pystream/_pystream_c*.so pystream/_pystream_c.c $(BUILD) $(DEMO_STAMP)
	$(MAKE) docs-clean
