# Two entry points do all set-up on a fresh Debian machine (run as root):
#   make conformance   the page's features on the embedded mesh, reports in reports/
#   make test          the project's own tests (unit tests, lint, and the features)
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# pytest-xdist: one mesh per worker, so the page's 8 s of waits overlap the other scenarios.
PARALLEL ?= -n auto
SYSTEM_COMMANDS := iptables ip curl dnsmasq setpriv
SYSTEM_PACKAGES := iptables iproute2 curl dnsmasq-base util-linux

.PHONY: setup system venv conformance test unit lint bench clean

setup: system venv

system:
	@missing=""; for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages for:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "error: need root to apt-get install $(SYSTEM_PACKAGES) (run as root or install them yourself)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || { \
	  echo "installing python3-venv (Debian's python3 lacks venv/ensurepip)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

conformance: setup
	$(PY) -m pytest features/ $(PARALLEL)

unit: setup
	$(PY) -m pytest tests/

lint: venv
	$(VENV)/bin/ruff check .

test: setup lint
	$(PY) -m pytest tests/ features/ $(PARALLEL)

bench: setup
	$(PY) bench/run.py

clean: venv
	$(VENV)/bin/egress-mesh down --all
