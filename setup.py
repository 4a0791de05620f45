"""Packaging: the repository's folders installed under one namespace, ``summit_platform``.

``stacks/``, ``components/``, ``automation/`` and ``apps/`` stay where the design puts them;
the wheel (and ``pip install -e .``) maps them to ``summit_platform.stacks`` and so on, so a
service's venv holds one top-level name of ours next to every other package (docs/golden-path.md
says why). The metadata is in pyproject.toml; only the package list and mapping are here,
because setuptools cannot discover packages under a prefix on its own.
"""

from setuptools import find_packages, setup

NAMESPACE = "summit_platform"
FOLDERS = ("stacks", "components", "automation", "apps")

setup(
    packages=[f"{NAMESPACE}.{p}" for p in find_packages(include=[f"{f}*" for f in FOLDERS])],
    package_dir={f"{NAMESPACE}.{f}": f for f in FOLDERS},
)
