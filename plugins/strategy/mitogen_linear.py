# -*- coding: utf-8 -*-
# Copyright: swarmforge contributors
# Apache License 2.0
"""The linear strategy, run through Mitogen when the `mitogen` package is installed (requirements.txt pins it).

Mitogen keeps one Python interpreter per host for the whole run, reached over the OpenSSH connection, and caches the
module code there, instead of copying and starting a module for every task: each task costs a fraction of a second
across the cluster in place of about one. Without the package, or with ANSIBLE_STRATEGY=linear, playbooks run with
Ansible's own linear strategy, unchanged in what they do.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: mitogen_linear
short_description: Ansible's linear strategy, through Mitogen when it is installed
description:
  - Runs tasks in order on every host, as the linear strategy does, with Mitogen's persistent interpreters when the
    C(mitogen) Python package is importable on the controller; otherwise exactly the linear strategy.
  - Hosts reached with the C(ssh), C(local) or C(docker) connections use Mitogen; other connections run as usual.
author: swarmforge contributors
"""

from ansible.utils.display import Display

try:
    import ansible_mitogen.loaders
    import ansible_mitogen.strategy
except ImportError as error:  # mitogen is optional: the plain strategy does the same work, more slowly
    from ansible.plugins.strategy.linear import StrategyModule as _Linear

    Display().vvv(f"mitogen_linear: Mitogen is not importable ({error}); running the linear strategy")

    class StrategyModule(_Linear):
        pass

else:
    _Linear = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)

    class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _Linear):
        pass
