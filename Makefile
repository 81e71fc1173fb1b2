# The README's two commands: `make demo` (set up, open alignterm on the demo pair) and
# `make test` (set up, run the whole suite). Both create .venv with plain venv + pip:
# resolvers such as uv or poetry may pull multi-GB CUDA wheels of torch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch on this kind of machine; on a CUDA box: make TORCH="torch" demo
TORCH ?= torch==2.13.0
CORE := $(VENV)/.installed-core
# llama-cpp-python compiles from source (about 6 minutes on 2 cores); only the tests need it,
# so `make demo` does not wait for it.
DEV := $(VENV)/.installed-dev
# llama.cpp for a portable x86-64 (AVX2), not -march=native: a native build on a CPU with AMX
# crashed on Q8_0 files (docs/decisions.md); built without pip's cache, so a native wheel built
# here before is not reused. On a CUDA box: make LLAMA_CMAKE_ARGS="-DGGML_CUDA=on" ...
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
# pytest worker processes (pytest-xdist); each gets its share of the cores (tests/conftest.py)
TEST_WORKERS ?= 2

.PHONY: demo test bench clean chromium

$(CORE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV): $(CORE)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir "llama-cpp-python[server]>=0.3.36"
	$(BIN)/pip install --quiet -e ".[dev,gguf,embed]"
	touch $@

demo: $(CORE)
	$(BIN)/alignterm

test: $(DEV) chromium
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -x -q -n $(TEST_WORKERS) --dist worksteal

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
