# Shortcuts for the Docker Compose stack in compose/ and for the tests.
# Run from the repository root (or `make -C <repo> ...`); docs/self-hosting.md
# explains each. Settings come from compose/.env and the environment, e.g.
#   STRATHON_SEED_DEV_KEY=true make up
#   make demo RECEIVER_URL=http://strathon.internal:4318

COMPOSE ?= docker compose -f compose/compose.yaml
# How long `make up` waits for the receiver; the first run builds the image
# before this clock starts, but still migrates an empty database.
UP_TIMEOUT ?= 300
RECEIVER_URL ?= $(or $(STRATHON_ENDPOINT),http://localhost:4318)
PYTHON ?= python3
# The demo's own virtualenv, so `make demo` needs nothing installed by hand.
DEMO_VENV := docs/examples/.venv
DEMO_SDK := strathon==1.4.0

.DEFAULT_GOAL := help
.PHONY: help up logs down reset psql test demo

help: ## Show this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-7s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

up: ## Build and start the stack in the background; follow the receiver log until it is ready
	$(COMPOSE) up -d --build
	compose/follow-until-ready.sh $(UP_TIMEOUT) $(COMPOSE) logs -f receiver

logs: ## Follow the receiver log (Ctrl-C stops following, not the receiver)
	$(COMPOSE) logs -f receiver

down: ## Stop the stack and keep the data
	$(COMPOSE) down

reset: ## Stop, DELETE the database volume, and start fresh
	$(COMPOSE) down -v
	$(MAKE) --no-print-directory up

psql: ## A psql shell in the Postgres container (its port is not published)
	$(COMPOSE) exec postgres psql -U strathon

test: ## The whole test suite (tests/run)
	tests/run

demo: $(DEMO_VENV)/.installed ## Block, steer, halt and budget stop against RECEIVER_URL with the published SDK
	STRATHON_ENDPOINT=$(RECEIVER_URL) $(DEMO_VENV)/bin/python docs/examples/intervention_demo.py

$(DEMO_VENV)/.installed:
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(DEMO_SDK)
	touch $@
