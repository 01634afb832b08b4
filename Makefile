# The two commands of the README: `make demo` and `make test`. Both install what they need first.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# pip prints one line per unreachable mirror folder configured on some machines; hide only those.
QUIET_PIP := sed "/is ignored: it is neither a file nor a directory/d"

# mypy checks every room (`$(BIN)/mypy` alone checks the same packages, as pyproject.toml names them).
TYPED := contracts modelspec runtime model monitoring rollout services tools

.PHONY: install system-deps demo test imports types bench lint schemas down clean

# Debian packages the tests and the demo use: a real Prometheus server with promtool (alert rules, PromQL), and a
# headless browser with its driver (the dashboard and the review console are tested in a real browser).
APT_PACKAGES := prometheus chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

install: $(STAMP)

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing tagstream with the local stack (a few minutes the first time)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: 2.13.0 is a CPU build on these machines; other ranges pull CUDA wheels.
	$(BIN)/pip install -q "torch==2.13.0" 2>&1 | $(QUIET_PIP)
	$(BIN)/pip install -q -e ".[dev]" 2>&1 | $(QUIET_PIP)
	$(BIN)/tagstream --help > /dev/null
	touch $(STAMP)

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p > /dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "==> installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing > /dev/null; \
	fi

demo: install system-deps
	$(BIN)/tagstream demo

# The rooms' import arrows and the types first: both take seconds, the suite minutes.
# The suite runs a file per worker, four at once: most integration tests wait on real processes (group joins,
# restarts, bakes), so four workers on two cores take about a third of the serial time. `pytest` alone runs serially.
test: install system-deps imports types
	$(BIN)/pytest -n 4 --dist loadfile

imports: install
	$(BIN)/lint-imports

types: install
	$(BIN)/mypy --follow-imports=silent $(addprefix -p ,$(TYPED))

bench: install
	$(BIN)/tagstream bench pipeline

lint: install
	$(BIN)/ruff check contracts modelspec runtime model monitoring rollout services tools tests

schemas: install
	$(BIN)/tagstream contracts export

down:
	-$(BIN)/tagstream down

clean: down
	rm -rf $(VENV) .tagstream .pytest_cache .hypothesis
