# One-command set-up and test for the pyssl bridge.
#   make run    - set up if needed, start the bridge in the foreground
#   make test   - set up if needed, lint, run every test (pytest + Common Test)
#   make lint   - ruff (pyflakes rules) and the layering rules (scripts/check_structure.py)
#                 on the Python; rebar3 xref and rebar3 dialyzer on the Erlang apps (the
#                 first dialyzer run builds the PLT in _build, about a minute; later
#                 runs take seconds)
#   make bench  - benchmarks against the BEAM's own ssl
#   make fuzz   - the property tests (marker fuzz) with fresh random examples, FUZZ_EXAMPLES each
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := erlang-base erlang-ssl erlang-crypto erlang-public-key erlang-dev \
	erlang-common-test erlang-eunit erlang-tools erlang-inets erlang-asn1 erlang-src rebar3 openssl
NAME ?= pyssl@127.0.0.1
SHIM_EBIN := _build/default/lib/pyssl/ebin

.PHONY: setup run test lint pytest ct bench conformance fuzz clean system-deps

setup: system-deps $(VENV)/.installed $(SHIM_EBIN)/pyssl.app

# Debian's Erlang/OTP and rebar3; only runs apt-get when something is missing.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml setup.py bridge/etf/_speedups.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,fast]'
	touch $@

$(SHIM_EBIN)/pyssl.app: $(wildcard erlang_shim/src/* conformance/src/*) rebar.config
	rebar3 compile
	touch $@

run: setup
	$(VENV)/bin/pyssl-bridge --name $(NAME)

test: setup lint
	$(PY) -m pytest
	scripts/ct-with-bridge.sh

lint: setup
	$(VENV)/bin/ruff check --select F,E9 bridge tests bench scripts
	$(PY) scripts/check_structure.py
	rebar3 xref
	rebar3 dialyzer

pytest: setup
	$(PY) -m pytest $(ARGS)

ct: setup
	scripts/ct-with-bridge.sh

bench: setup
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m bench

# Long-run fuzzing for local use: the same property tests `make test` runs with a
# fixed draw, here with FUZZ_EXAMPLES (default 20000) fresh random examples each.
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -m fuzz $(ARGS)

conformance: setup
	$(PY) -m bench.conformance

clean:
	rm -rf $(VENV) _build .pytest_cache
