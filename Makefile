# The README's two commands: `make demo` (set up, open alignterm on the demo pair) and
# `make test` (set up, run the whole suite). Both create .venv with plain venv + pip:
# resolvers such as uv or poetry may pull multi-GB CUDA wheels of torch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch on this kind of machine; on a CUDA box: make TORCH="torch" demo
TORCH ?= torch==2.13.0
CORE := $(VENV)/.installed-core
# llama-cpp-python compiles from source (about 6 minutes on 2 cores, then cached by pip);
# only the tests need it, so `make demo` does not wait for it.
DEV := $(VENV)/.installed-dev

.PHONY: demo test bench clean chromium

$(CORE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV): $(CORE)
	$(BIN)/pip install --quiet -e ".[dev,gguf]"
	touch $@

demo: $(CORE)
	$(BIN)/alignterm

test: $(DEV) chromium
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -x -q

# The HTML export test opens the page in headless Chromium (Debian's package).
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  echo "installing chromium for the HTML export test (apt-get)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

bench: $(DEV)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
