"""Import the plugins as Ansible does: the repository is the collection swarmforge.swarm, found through
collections/ansible_collections/swarmforge/swarm (a link to the repository's root)."""

import importlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))

# Every module, so that tests can read each one's documentation and argument spec by name.
for plugin in sorted((REPO / "plugins" / "modules").glob("*.py")):
    importlib.import_module(f"ansible_collections.swarmforge.swarm.plugins.modules.{plugin.stem}")
