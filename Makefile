# `make train` and `make test` create the virtualenv they need (.venv) on first use.
PYTHON ?= python3
VENV   ?= .venv
CONFIG ?= configs/cartpole_a3c.yaml
ACTORS ?= 2
ARGS   ?=
MODEL  ?= models/pong_a3c/pong_a3c.weights.h5
PLAY   ?= --greedy

BIN := $(VENV)/bin

.PHONY: train play test test-slow lint install clean

# One line per step; pip's own output only on an error.
$(BIN)/.installed: pyproject.toml constraints.txt
	@echo "install: the virtualenv $(VENV) ($(PYTHON))"
	@$(PYTHON) -m venv $(VENV)
	@echo "install: pip"
	@$(BIN)/pip install --quiet --upgrade pip
	@echo "install: asyncrl and its dependencies (pinned by constraints.txt; a few minutes the first time)"
	@$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,plot,track]'
	@touch $@
	@echo "install: done"

install: $(BIN)/.installed

train: $(BIN)/.installed
	$(BIN)/python -m learner --config $(CONFIG) --actors $(ACTORS) $(ARGS)

play: $(BIN)/.installed  # the shipped Pong model, greedy, in its training env (sticky actions 0.25)
	$(BIN)/python -m actor.play $(MODEL) $(PLAY) $(ARGS)

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

test-slow: $(BIN)/.installed  # the long learning runs (the value methods, A3C-LSTM on CartPole without velocities)
	$(BIN)/python -m pytest -q -rP -m slow  # -rP: the scores of passing runs too

lint: $(BIN)/.installed  # ruff (lint + format check) over the tree, mypy over common/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache
