# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO   ?= $(CURDIR)/demo_project

.PHONY: run test venv bench bundle screenshots clean

venv: $(STAMP)

# Re-install only when the package metadata changes; editable, so code edits need nothing.
# The second step fetches MobileSAM's weight file (click-to-segment) into the venv, once.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	$(PY) -m pip install -e '.[test]'
	$(PY) -m fcn_studio.models.sam_weights
	@touch $(STAMP)

# ARGS passes options through, e.g. `make run ARGS="--quit-after 3000"`.
run: $(STAMP)
	$(PY) -m fcn_studio --demo $(DEMO) $(ARGS)

# The versions line first: a failure report then says what the suite ran on.
test: $(STAMP)
	@$(PY) -m fcn_studio.versions
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pip install -e '.[test,bench]'
	$(PY) bench/model_speed.py

screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m fcn_studio.gui.screenshots docs --all

# One-folder PyInstaller build in dist/fcn-studio/ (see "Building a bundle" in README.md).
BUNDLE_STAMP := $(VENV)/.bundle-installed

$(BUNDLE_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -e '.[bundle]'
	@touch $(BUNDLE_STAMP)

bundle: $(BUNDLE_STAMP)
	$(PY) -m PyInstaller --noconfirm fcn_studio.spec
	@echo "built dist/fcn-studio/fcn-studio; check it: QT_QPA_PLATFORM=offscreen dist/fcn-studio/fcn-studio --self-test"

clean:
	rm -rf $(VENV) build dist demo_project
