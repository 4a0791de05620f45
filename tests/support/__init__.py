"""Test support shared by every domain's tests (stand-ins for tools that cannot run here).

Import it as ``from tests.support.pulumi_standin import PulumiStandin``. That needs the repo
root on ``sys.path``: ``python -m pytest`` (the README's command) puts it there; bare
``pytest`` does too once pyproject sets ``pythonpath = ["."]`` for pytest.

- :mod:`tests.support.pulumi_standin`: an executable ``pulumi`` stand-in for
  ``PulumiCommand(root=...)``; it records invocations and answers in the CLI's JSON formats.
"""
