# `make test` and `make demo` set themselves up on a fresh Debian machine (as root they apt-get
# what the integration tests need). Everything else goes through tox in a local .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOX := $(VENV)/bin/tox
DEBIAN_PACKAGES := docker-registry skopeo umoci notary apache2-utils openssl

.PHONY: test lint type unit integration demo bench system-deps clean

test: $(TOX) system-deps
	$(TOX) run -e lint,type,unit,integration

lint type unit integration: $(TOX)
	$(TOX) run -e $@

$(TOX):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet 'tox>=4.11' 'tox-ignore-env-name-mismatch>=0.2'

system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "missing Debian packages:$$missing (run as root, or install them, for the integration tests)"; \
	  fi; \
	fi

demo: $(TOX)
	$(TOX) run -e unit --notest
	.tox/shared/bin/python demo/demo.py

bench: $(TOX) system-deps
	$(TOX) run -e unit --notest
	.tox/shared/bin/python -m bench

clean:
	rm -rf $(VENV) .tox
