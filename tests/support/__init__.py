"""Test support shared by every domain's tests (stand-ins for tools that cannot run here).

Import it as ``from support.pulumi_standin import PulumiStandin``: pytest puts ``tests/`` on
``sys.path`` (there is no ``tests/__init__.py``), the same way tests import ``conftest``.

- :mod:`support.pulumi_standin`: an executable ``pulumi`` stand-in for
  ``PulumiCommand(root=...)``; it records invocations and answers in the CLI's JSON formats.
"""
