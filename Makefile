# doseapp: two commands set everything up.
#   make run   create .venv, install, migrate, start everything on http://127.0.0.1:8000 (Ctrl-C stops it)
#   make test  create or refresh .venv, install what the tests need, run the whole suite

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Debian packages the tests drive as real peers: DICOM tools, a PACS, a browser; and PixelMed with a
# Java runtime, which read Toshiba CT dose screens (a runtime dependency too).
DEB_PACKAGES := dcmtk orthanc chromium chromium-driver default-jre-headless libpixelmed-java
DEB_COMMANDS := echoscu storescu findscu movescu Orthanc chromium chromedriver java
DEB_FILES    := /usr/share/java/pixelmed.jar

.PHONY: run test test-sqlite test-postgresql install system-packages clean translations

# Translations (issue 22): messages.po per language is the source; its .mo is built from it.
LOCALES  := de es fr it nb nl
MO_FILES := $(foreach l,$(LOCALES),translations/$(l)/LC_MESSAGES/messages.mo)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --statistics -d translations -l $* -i $< -o $@

# Extract every marked text into messages.pot, bring each catalogue up to it, compile.
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --no-wrap -k _l -k Chart:2 -k F:1 -k D:1 -k _mean:1 -k _dap:1 -k Filter:2 -k RuleSpec:2 -o translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --no-wrap --ignore-obsolete -i translations/messages.pot -d translations
	$(BIN)/pybabel compile --statistics -d translations

install: $(STAMP) $(MO_FILES)

run: $(STAMP) $(MO_FILES)
	$(BIN)/doseapp db upgrade
	exec $(BIN)/doseapp run

# As root, install missing Debian packages (services they ship are kept from starting).
system-packages:
	@missing=""; for c in $(DEB_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	for f in $(DEB_FILES); do test -e $$f || missing="$$missing $$f"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != "0" ]; then echo "not root: cannot install$$missing (tests needing them will skip, or fail under CI)"; exit 0; fi; \
	echo "installing Debian packages for:$$missing"; \
	guard=0; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; guard=1; fi; \
	DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_PACKAGES) >/dev/null; rc=$$?; \
	if [ $$guard = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$rc

test: $(STAMP) $(MO_FILES) system-packages
	$(MAKE) --no-print-directory test-sqlite
	@if [ -n "$$DOSEAPP_TEST_DATABASE_URL" ]; then $(MAKE) --no-print-directory test-postgresql; \
	else echo "DOSEAPP_TEST_DATABASE_URL not set: PostgreSQL pass not run"; fi

test-sqlite: $(STAMP) $(MO_FILES)
	DOSEAPP_TEST_DB=sqlite $(BIN)/python -m pytest

test-postgresql: $(STAMP) $(MO_FILES)
	DOSEAPP_TEST_DB=postgresql $(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
