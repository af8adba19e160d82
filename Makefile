# Two entry points for a fresh machine (see README): `make run` and `make test`.
# Each target installs what it needs and is a no-op when it is already there.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := tmux chromium nginx caddy openssl

.PHONY: run test lint system setup snapshot clean

run: setup
	$(PY) serve.py $(ARGS)

test: setup system
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .

setup: $(VENV)/.installed web/node_modules/.package-lock.json
	@command -v tmux >/dev/null || $(MAKE) system
	@$(MAKE) --no-print-directory snapshot || echo "no Pyodide snapshot: the page boots without it (slower)"

# Pyodide's memory snapshot with pyclient imported (Node runs Pyodide); serve.py serves it only while its key matches.
snapshot: web/snapshot/pyclient.key

web/snapshot/pyclient.key: $(wildcard pyclient/*.py) web/node_modules/.package-lock.json web/make_snapshot.mjs
	@mkdir -p web/snapshot
	node web/make_snapshot.mjs web/node_modules/pyodide pyclient web/snapshot/pyclient.bin
	$(PY) -c 'from livepane_server import assets, config; print(assets.snapshot_key(config.WEB_DIR, config.PYCLIENT_DIR))' > $@

# Debian packages: tmux for the server, chromium for the end-to-end tests, nginx, caddy and openssl for the deploy
# tests (a reverse proxy and a certificate made by the test). The tests start their own nginx and Caddy on free
# ports; the services the packages start on a systemd machine (port 80, the admin API on 2019) are stopped and
# disabled right after they are installed here.
PROXY_SERVICES := nginx caddy

system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	  for s in $(PROXY_SERVICES); do case " $$missing " in *" $$s "*) \
	    $(SUDO) systemctl disable --now $$s >/dev/null 2>&1 || true;; esac; done; \
	fi

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund

clean:
	rm -rf $(VENV) web/node_modules web/snapshot .pytest_cache .ruff_cache
