# swarmforge: the two commands a newcomer needs are `make lab` and `make test`; both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.deps-installed
# Lab backend for `make lab`: containers or vm (qemu VMs); empty keeps the running lab's (containers at first).
BACKEND ?=
# The lab's topology (empty keeps the running lab's; at first 3 managers, 2 workers, 1 storage host), e.g.
# `make lab MANAGERS=1 WORKERS=2` for the tutorials' lab; STORAGE=0 STORAGE_ON_MANAGER=1 puts NFS and the registry
# on the last manager.
MANAGERS ?=
WORKERS ?=
STORAGE ?=
STORAGE_ON_MANAGER ?=
LAB_OPTIONS = $(if $(BACKEND),--backend $(BACKEND)) $(if $(MANAGERS),--managers $(MANAGERS)) \
	$(if $(WORKERS),--workers $(WORKERS)) $(if $(STORAGE),--storage $(STORAGE)) \
	$(if $(filter 1 yes true,$(STORAGE_ON_MANAGER)),--storage-on-manager)

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help deps lab lab-up lab-down lab-status plan test lint unit integration preflight molecule clusters sanity e2e lifecycle vm bench \
	clean

help:
	@echo "make lab         bring up the local lab and run site.yml on it (again: reuse it, rerun site.yml)"
	@echo "make lab BACKEND=vm   the same on qemu VMs (real kernels: routing mesh, VIPs, NFS volumes)"
	@echo "make lab MANAGERS=1 WORKERS=2   another topology (also STORAGE=0 STORAGE_ON_MANAGER=1)"
	@echo "make test        the whole test suite: lint, unit, integration, preflight, molecule, lab, sanity, e2e, lifecycle, vm"
	@echo "make lab-status  list the lab's nodes;  make lab-down  remove the lab"
	@echo "make plan        what site.yml would change, per host and object (INVENTORY=..., PLAYBOOK=...), changing nothing"
	@echo "make bench       site.yml against the project's plain shell floor on fresh labs (BENCH='floor rerun' for some)"

$(DEPS_STAMP): requirements.txt requirements-dev.txt scripts/bootstrap-host.sh
	@bash scripts/bootstrap-host.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

deps: $(DEPS_STAMP)

lab-up: deps
	$(PY) -m lab up $(LAB_OPTIONS)

lab: lab-up
	ansible-playbook site.yml -i inventories/lab --vault-password-file .lab/swarmforge/vault-password

# The plan: a check run with diffs, written per host and per object beside the status report (status/NAME-plan.md
# and .html). The lab's inventory by default; for another, INVENTORY=path (and VAULT=... or PLAN_ARGS='--ask-vault-pass').
INVENTORY ?= inventories/lab
PLAYBOOK ?= site.yml
VAULT ?= $(if $(filter inventories/lab,$(INVENTORY)),.lab/swarmforge/vault-password)
plan: deps
	ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks,swarmforge.swarm.plan ansible-playbook $(PLAYBOOK) -i $(INVENTORY) \
		--check --diff $(if $(VAULT),--vault-password-file $(VAULT)) $(PLAN_ARGS)

lab-down: deps
	$(PY) -m lab down

lab-status: deps
	$(PY) -m lab status

test: deps
	$(PY) tests/run_suite.py

lint unit integration preflight molecule clusters sanity e2e lifecycle vm: deps
	$(PY) tests/run_suite.py $@

# Sections: floor full rerun scale hosts suite (all by default); BENCH_RUNS=N repeats the floor comparison.
BENCH ?=
bench: deps
	$(PY) bench/run.py $(BENCH)

clean: lab-down
	rm -rf .cache .lab $(VENV) .venv-core217
