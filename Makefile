# Two commands matter: `make run` (the main job on the embedded cloud, asked for with --embedded) and `make test`.
# Both bootstrap everything on a fresh Debian machine: Debian packages from bindep.txt, a .venv, the project.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-installed
PROFILES := compile test
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
EXAMPLE ?= examples/all-kinds.json
CATALOG ?= examples/catalog.json
PYTEST_ARGS ?=
RUN_INSTANCE ?= 0b1ec7f1-0000-4000-8000-00000000a11c

.PHONY: all install bindep cinder-venv run test test-quick bench clean

all: install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# bindep (OpenStack's own tool) reads bindep.txt and names the Debian packages that are missing.
bindep: $(BIN)/python
	@$(BIN)/pip install --quiet bindep
	@missing="$$($(BIN)/bindep -b $(PROFILES) || true)"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): requirements.txt test-requirements.txt setup.cfg bindep.txt | $(BIN)/python
	$(MAKE) bindep
	$(BIN)/pip install --quiet -r requirements.txt -r test-requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(STAMP)

# The embedded cloud keeps its volumes between runs ($$XDG_STATE_HOME/blockflow/clouds/default):
# the previous run's instance is deleted first, so the example's own volume is free again.
run: install
	$(BIN)/blockflow plan $(EXAMPLE) --catalog $(CATALOG)
	@$(BIN)/blockflow delete $(RUN_INSTANCE) >/dev/null 2>&1 || true
	$(BIN)/blockflow boot $(EXAMPLE) --embedded --instance-uuid $(RUN_INSTANCE)

# Real Cinder 29 (pinned in install.sh) in its own venv, for the conformance tests (tests/conformance).
cinder-venv: $(BIN)/python
	PYTHON=$(PYTHON) sh tools/realcinder/install.sh $(VENV)-cinder

# Most tests wait on clouds, libvirt and child processes, not on the CPU: four
# pytest-xdist workers on two cores. Tests are handed out one at a time
# (--dist load --maxschedchunk 1) in the order tests/fixtures/ordering.py sets,
# longest first, so no long test starts last.
TEST_WORKERS ?= 4

test: install cinder-venv
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist load --maxschedchunk 1 $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/boot_bench.py --quick

clean:
	rm -rf $(VENV) $(VENV)-cinder build dist *.egg-info .pytest_cache
