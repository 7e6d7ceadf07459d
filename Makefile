# `make test` and `make demo` set themselves up on a fresh Debian machine (as root they apt-get
# what is missing). Everything else goes through tox, installed in a local .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOX := $(VENV)/bin/tox
# tox lists every installed package per environment when CI is set; they all share one env
TOX_FLAGS ?= --no-list-dependencies
REPORTS := .tox/reports
# The shared tox env is rebuilt when any of these change (tox itself does not notice a new
# dependency or entry point in a package's pyproject.toml).
DEPS_STAMP := .tox/deps.stamp
DEPS_FILES := requirements-dev.txt $(wildcard packages/*/pyproject.toml)
DEBIAN_PACKAGES := python3-venv docker-registry skopeo podman umoci notary apache2-utils openssl ca-certificates
# pip, quiet: the machine's pip config may name local indexes that lack a package, which pip
# reports as a warning per package; errors still show.
PIP_QUIET := --quiet --quiet

.PHONY: test lint type unit integration demo bench system-deps clean

test: system-deps $(DEPS_STAMP)
	@rm -rf $(REPORTS)
	@status=0; $(TOX) run $(TOX_FLAGS) -e lint,type,unit,integration || status=$$?; \
	  $(VENV)/bin/python .ci/summary.py $(REPORTS)/*.xml || true; \
	  exit $$status

lint type unit integration: $(DEPS_STAMP)
	$(TOX) run $(TOX_FLAGS) -e $@

$(TOX): | system-deps
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_QUIET) 'tox>=4.11' 'tox-ignore-env-name-mismatch>=0.2' 'tox-uv>=1.11'

$(DEPS_STAMP): $(DEPS_FILES) | $(TOX)
	$(TOX) run $(TOX_FLAGS) -q -e unit --notest --recreate
	@touch $@

system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (run as root, or install them, for the integration tests)"; \
	  fi; \
	fi

demo: $(DEPS_STAMP)
	.tox/shared/bin/python demo/demo.py

# The benchmarks run on the interpreter the image runs (Debian's python3: .ci/build-images builds
# the resource image on it) with the packages installed as the image installs them (not editable,
# bytecode compiled), not on the development interpreter (.tox/shared's may be a build without
# PGO/LTO: pyenv's 3.11.7 here takes 66 ms per tag-mode check where Debian's takes 53 ms, the same
# code, bench/README.md). Rebuilt on every run so that it always holds the tree being measured.
BENCH_PYTHON ?= /usr/bin/python3
BENCH_VENV := .tox/bench

bench: system-deps $(TOX)
	rm -rf $(BENCH_VENV)
	$(BENCH_PYTHON) -m venv --without-pip $(BENCH_VENV)
	$(VENV)/bin/uv pip install --quiet --python $(BENCH_VENV)/bin/python --compile-bytecode \
	  -r requirements-dev.txt ./packages/resource ./packages/fake-registry ./packages/notary-stub
	$(BENCH_VENV)/bin/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .tox
