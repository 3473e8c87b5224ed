#!/bin/sh
# Ansible runs this for the vault password: the lab's own (written by `python -m lab up`). Before the lab exists
# (Molecule's first destroy, create) no play reads a vault value, and any password will do.
cat "$MOLECULE_PROJECT_DIRECTORY/.lab/$SWARMFORGE_MOLECULE_LAB/vault-password" 2>/dev/null || echo "no lab yet"
