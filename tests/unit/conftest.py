"""Make the repository's module_utils importable the way Ansible ships them to a node."""

import importlib.util
import sys
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


for util in sorted((PLUGINS / "module_utils").glob("*.py")):
    _load(f"ansible.module_utils.{util.stem}", util)
for plugin in sorted((PLUGINS / "modules").glob("*.py")):
    _load(f"swarmforge_modules.{plugin.stem}", plugin)
for plugin in sorted((PLUGINS / "action").glob("*.py")):
    _load(f"swarmforge_actions.{plugin.stem}", plugin)
for plugin in sorted((PLUGINS / "filter").glob("*.py")):
    _load(f"swarmforge_filters.{plugin.stem}", plugin)
