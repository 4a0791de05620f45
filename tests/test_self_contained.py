"""The repository carries everything its tests, benchmarks and tools read: no path outside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The folder beside the checkout that an earlier layout read fixtures from, as a relative path
# ("../shared/...") or a pathlib step (`ROOT.parent / "shared"`), and the repository root's
# parent used as a base for any path.
_OUTSIDE = re.compile(r"""\.\./shared\b|["']shared["']|ROOT\.parent\b|parents\[1\]\.parent\b""")


def test_no_source_file_reads_outside_the_repository() -> None:
    offenders = []
    for folder in (
        "tests",
        "benchmarks",
        "automation",
        "stacks",
        "components",
        "apps",
        "policypacks",
    ):
        for path in (ROOT / folder).rglob("*.py"):
            if path == Path(__file__).resolve():
                continue  # this file spells the pattern out
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if _OUTSIDE.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_every_vendored_fixture_folder_states_its_provenance() -> None:
    fixtures = ROOT / "tests" / "fixtures"
    index = (fixtures / "PROVENANCE.md").read_text()
    for readme_dir in {p.parent for p in fixtures.rglob("*") if p.is_file()}:
        if readme_dir == fixtures:
            continue
        assert (readme_dir / "README.md").is_file(), f"{readme_dir} has no README.md"
        top = readme_dir.relative_to(fixtures).parts[0]
        assert f"`{top}/" in index, f"{top}/ is missing from PROVENANCE.md"
