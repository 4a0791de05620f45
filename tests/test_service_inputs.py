"""`summit service new` on bad input (issue: bad input never crashes, never passes, never
leaks): a name ending in a newline no longer passes the DNS-1123 check (``$`` matched before
it), every name is validated before anything is written, and a failure after the first write
(a plan that refuses the service, a crash, Ctrl-C) removes what the command wrote. The
property test (surface service-name) generates names that are not DNS-1123 labels."""

from __future__ import annotations

from pathlib import Path

import fuzz
import pytest
from hypothesis import given
from hypothesis import strategies as st

from summit_platform.automation.errors import UserError
from summit_platform.automation.service import bootstrap


def _tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()


def _new(tmp: Path, name: str, *extra: str, watch: Path | None = None) -> fuzz.Outcome:
    argv = ["service", "new", name, "--into", str(tmp / "services"), "--offline", *extra]
    return fuzz.run("service-name", argv, watch=[watch or tmp])


@pytest.fixture
def template_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "template-repo"
    monkeypatch.setenv("SUMMIT_TEMPLATE_REPO", str(repo))
    return repo


@pytest.mark.parametrize("name", ["demo-svc\n", "demo-svc\r\n", "demo\nsvc", "\ndemo-svc"])
def test_service_new_name_ending_in_a_newline_exits_2_and_leaves_nothing(
    tmp_path: Path, template_repo: Path, name: str
) -> None:
    before = _tree(tmp_path)
    out = _new(tmp_path, name)
    fuzz.assert_clean(out, names="name")
    assert repr(name) in out.err  # shown escaped, so the reader sees the newline
    assert _tree(tmp_path) == before and not template_repo.exists()


@pytest.mark.parametrize("team", ["search\n", "Search", "s\u0661"])
def test_service_new_team_matches_in_full(tmp_path: Path, template_repo: Path, team: str) -> None:
    fuzz.assert_clean(_new(tmp_path, "demo-svc", "--team", team), names="--team")
    assert not template_repo.exists()


def test_name_problems_use_the_whole_name() -> None:
    for bad in ("demo\n", "demo\r", "demo\x00", "d\u0435mo", "demo-svc\n\n"):
        assert bootstrap.name_problems(bad, set()), repr(bad)


def _cache_only(folder: Path) -> bool:
    """Only the template repository cache is left: the repo, its lock and its URL mirror."""
    names = {p.name for p in folder.iterdir()}
    return "template-repo" in names and names <= {
        "template-repo",
        ".template-repo.lock",
        "template-repo.mirrors",
    }


def test_service_new_failure_after_the_first_write_leaves_nothing_behind(
    tmp_path: Path, template_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The template renders for real; the plan then refuses the service (exit 2). The service
    folder and the --into folder it created are removed; the template repository (a cache
    outside the project) stays."""

    def plan(dest: Path) -> dict[str, object]:
        assert (dest / "Pulumi.yaml").is_file()  # the render did write
        raise UserError("the plan refused it")

    monkeypatch.setattr(bootstrap, "_plan_offline", plan)
    out = _new(tmp_path, "demo-svc", watch=tmp_path / "services")
    fuzz.assert_clean(out, allowed=(2,))
    assert "the plan refused it" in out.err
    assert not (tmp_path / "services").exists()
    assert _cache_only(tmp_path)


def test_service_new_interrupted_leaves_nothing_behind(
    tmp_path: Path, template_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during the plan (the slow step) removes what was written, then goes on up."""

    def plan(dest: Path) -> dict[str, object]:
        raise KeyboardInterrupt

    monkeypatch.setattr(bootstrap, "_plan_offline", plan)
    with pytest.raises(KeyboardInterrupt):
        bootstrap.new_service(
            "demo-svc", into=tmp_path / "a" / "services", offline=True, repo_path=template_repo
        )
    assert _cache_only(tmp_path)


def test_an_existing_into_folder_stays_when_new_fails(
    tmp_path: Path, template_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    into = tmp_path / "services"
    (into / "other-svc").mkdir(parents=True)
    (into / "other-svc" / "keep.txt").write_text("mine")

    def plan(_dest: Path) -> dict[str, object]:
        raise UserError("the plan refused it")

    monkeypatch.setattr(bootstrap, "_plan_offline", plan)
    out = _new(tmp_path, "demo-svc")
    assert out.code == 2
    assert _tree(into) == {"other-svc", "other-svc/keep.txt"}


BAD_NAMES = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True).map(lambda n: n + "\n"),
    st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True).flatmap(
        lambda n: st.sampled_from(
            [n.upper(), n + "_x", "-" + n, n + "-", n + " ", n + ".", n + "\u0663", "\u0435" + n]
        )
    ),
    st.text(min_size=64, max_size=80, alphabet="abc"),
    st.text(max_size=12).filter(lambda t: not bootstrap.DNS1123.fullmatch(t)),
)


@pytest.mark.fuzz
@fuzz.surface_settings()
@given(name=BAD_NAMES)
def test_generated_bad_service_names_exit_2_and_write_nothing(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    tmp = tmp_path_factory.mktemp("svc")
    mp = pytest.MonkeyPatch()
    mp.setenv("SUMMIT_TEMPLATE_REPO", str(tmp / "template-repo"))
    try:
        out = _new(tmp, name)
    finally:
        mp.undo()
    if name.startswith("-") and out.code == 2 and "No such option" in out.err:
        return  # click reads a leading dash as an option: refused as usage, exit 2 too
    fuzz.assert_clean(out, names="name")
    assert _tree(tmp) == set()
