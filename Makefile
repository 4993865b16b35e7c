# Two entry points a user needs (see README): `make demo` and `make test`.
# Both create .venv on first use. llama-cpp-python compiles from source; the portable
# CMAKE_ARGS below avoid a decode crash seen with a native (-march=native) build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
# Use the workplace's shared GLUE copy when it is there; otherwise the built-in synthetic task runs.
ASYNDBT_DATA_DIR ?= $(abspath $(wildcard ../shared/data))
export ASYNDBT_DATA_DIR

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install -q -e '.[test,http]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/asyndbt run configs/demo.toml

test: $(BIN)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q

bench: $(BIN)/.installed
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) build *.egg-info
