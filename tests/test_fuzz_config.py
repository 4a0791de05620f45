"""Generated bad config input for ``summit plan`` (issue 12, item 8): stack files, Pulumi.yaml,
policy-pack configs and the command's flags. Every input is malformed by construction; each
run must exit 2 with one ``summit: error:`` line per problem naming the file (or flag), no
traceback, nothing written, and no line longer than a short message.

Runs are in-process (:func:`fuzz.run`) and fail before the program would run, so an example
costs tens of milliseconds; ``make fuzz`` runs them with the ``fuzz`` profile's count.
Surfaces: ``stack-file``, ``project-file``, ``pack-config``, ``plan-flags``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import fuzz
import pytest
import yaml
from google.protobuf import empty_pb2, json_format
from hypothesis import assume, given
from hypothesis import strategies as st

from summit_platform.automation.plan.analyzer import (
    PolicyPackError,
    PolicyPackProcess,
    reconcile_config,
)
from summit_platform.stacks.config import TOP_LEVEL_KEYS, shown_key

pytestmark = pytest.mark.fuzz

ROOT = Path(__file__).resolve().parents[1]
DEV = (ROOT / "Pulumi.dev.yaml").read_text()
PROJECT_FILE = (ROOT / "Pulumi.yaml").read_text()
FINOPS = ROOT / "policypacks" / "finops"
LIMIT = 1024 * 1024

BAD_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]
ODD_DIGITS = [
    "\uff11\uff10\uff10",
    "\u0661\u0660\u0660",
    "\u06f1\u06f0\u06f0",
    "\u00b2",
    "\u00bd",
    "\u216b",
    "\U0001d7d9\U0001d7d8\U0001d7d8",
    "\u0967\u0966\u0966",
    "100\u200b",
    "\u202e100",
]
NON_FINITE = [".nan", ".NaN", ".inf", "-.inf", "+.Inf", "1.0e+400", "-1.0e+999"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project copy for the module; each example writes the file it is about."""
    d = tmp_path_factory.mktemp("fuzz-project")
    for name in ("__main__.py", "Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(ROOT / name, d / name)
    return d


def refused(surface: str, folder: Path, argv: list[str], names: str, *watch: Path) -> fuzz.Outcome:
    """Run ``summit`` and check the promise, each line naming ``names``."""
    outcome = fuzz.run(surface, argv, watch=[folder, *watch])
    fuzz.assert_clean(outcome, names=names)
    found = [ln for ln in outcome.err.splitlines() if ln.strip()]
    assert all(ln.startswith("summit: error: ") and names in ln for ln in found), found
    assert all(len(ln) < 600 + len(str(folder)) and ln.isprintable() for ln in found), found
    return outcome


def plan_argv(folder: Path, stack: str = "dev") -> list[str]:
    return ["plan", "-s", stack, "-C", str(folder), "-q", "--json", str(folder / "out.json")]


# -- generators --------------------------------------------------------------------------------


def with_bad_bytes(text: str) -> st.SearchStrategy[bytes]:
    """``text`` with an invalid UTF-8 sequence inserted anywhere."""
    raw = text.encode()
    return st.builds(
        lambda at, bad: raw[:at] + bad + raw[at:],
        st.integers(0, len(raw)),
        st.sampled_from(BAD_UTF8),
    )


def json_values(max_leaves: int = 6) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**30), 10**30),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=30),
        st.sampled_from(ODD_DIGITS),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def _dev_config() -> dict[str, Any]:
    return yaml.safe_load(DEV)["config"]


def _not_float(v: Any) -> bool:
    try:
        float(str(v).strip())
    except (ValueError, OverflowError):
        return True
    return False


# (path in the dev config, a strategy of values that can never be valid there)
WRONG: list[tuple[str, st.SearchStrategy[Any]]] = [
    (
        "summit-platform:environment",
        json_values().filter(
            lambda v: not (isinstance(v, str) and v.strip() in ("dev", "stage", "prod", "preview"))
        ),
    ),
    (
        "summit-platform:regions.0.naturalShare",
        st.one_of(
            st.sampled_from(ODD_DIGITS),
            st.floats(allow_nan=True).filter(lambda f: not 99.99 <= f <= 100.01),
            st.text(alphabet="abcxyz -_/", max_size=20),
            st.lists(st.integers(), max_size=2),
            st.none(),
        ),
    ),
    (
        "summit-platform:regions.0.dial",
        st.one_of(
            st.sampled_from(ODD_DIGITS),
            st.integers().filter(lambda i: not 0 <= i <= 100),
            st.floats().filter(lambda f: not f.is_integer() or not 0 <= f <= 100),
            st.text(alphabet="abc -", max_size=10),
        ),
    ),
    (
        "summit-platform:regions.0.name",
        st.text(max_size=20).filter(lambda s: s.strip() != "us-east-1"),
    ),
    (
        "summit-platform:tags.team",
        st.one_of(st.integers(), st.lists(st.text()), st.none(), st.floats()),
    ),
    (
        "summit-platform:tags.costCenter",
        st.dictionaries(st.text(max_size=5), st.text(), max_size=2),
    ),
    ("summit-platform:services.0.replicas.min", st.integers(3, 10**6) | st.integers(max_value=-1)),
    (
        "summit-platform:services.0.resources",
        st.fixed_dictionaries(
            {
                "cpuRequest": st.sampled_from(
                    ["\uff11\uff10\uff10m", "1e400", "lots", "-5", "250 m", "2Gi"]
                )
            }
        ),
    ),
    (
        "summit-platform:traffic",
        st.fixed_dictionaries(
            {"mode": st.text(max_size=10).filter(lambda s: s.strip() not in ("ga", "route53"))}
        ),
    ),
    (
        "summit-platform:kubeconfigs",
        st.dictionaries(st.sampled_from(["us-east-1", "x"]), json_values(), min_size=1).filter(
            lambda d: (
                any(not (isinstance(v, dict) and set(v) == {"secure"}) for v in d.values())
                or "x" in d
            )
        ),
    ),
]


def _put(config: dict[str, Any], path: str, value: Any) -> None:
    top, *rest = path.split(".")
    if not rest:
        config[top] = value
        return
    node: Any = config[top]
    for part in rest[:-1]:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    last = rest[-1]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value


@st.composite
def wrong_value_files(draw: st.DrawFn) -> tuple[str, str]:
    path, values = draw(st.sampled_from(WRONG))
    value = draw(values)
    config = _dev_config()
    _put(config, path, value)
    text = yaml.safe_dump({"config": config}, allow_unicode=draw(st.booleans()), sort_keys=False)
    return path.split(".")[0], text


@st.composite
def structural_files(draw: st.DrawFn) -> tuple[str, str]:
    """Non-string keys, duplicate keys, non-finite numbers, unknown keys, alias bombs,
    recursive aliases."""
    kinds = ["key", "dup", "non-finite", "unknown", "bomb", "colons", "recursive"]
    kind = draw(st.sampled_from(kinds))
    if kind == "recursive":
        shape = draw(st.sampled_from(["&a [*a]", "&a {k: *a}", "&a [1, [2, {k: [*a]}]]"]))
        return "recursive alias", DEV + f"  summit-platform:x: {shape}\n"
    if kind == "key":
        key = draw(
            st.sampled_from(["1", "~", "null", "true", "1.5", "[a, b]", "{a: 1}", "2001-01-01"])
        )
        return "line", DEV + f"  {key}: {draw(st.sampled_from(['2', 'x', '[]']))}\n"
    if kind == "dup":
        line = draw(st.sampled_from([ln for ln in DEV.splitlines() if ln.startswith("  summit")]))
        return "duplicate key", DEV + line.split(":")[0] + ":" + line.split(":")[1] + ": dup\n"
    if kind == "non-finite":
        bad = draw(st.sampled_from(NON_FINITE))
        return "finite", DEV.replace("naturalShare: 100", f"naturalShare: {bad}")
    if kind == "unknown":
        name = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyzXYZ", min_size=1, max_size=12))
        assume(name not in TOP_LEVEL_KEYS)
        return f"summit-platform:{name}", DEV + f"  summit-platform:{name}: 1\n"
    if kind == "colons":
        return (
            "one colon",
            DEV + f"  summit-platform:{draw(st.sampled_from(['a:b', 'tags:team']))}: x\n",
        )
    width = draw(st.integers(4, 12))
    depth = draw(st.integers(6, 10))
    assume(width**depth > 50_000)
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    for i in range(1, depth):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "aliases expand", "\n".join(lines) + "\n"


def truncations(text: str, before: str) -> st.SearchStrategy[str]:
    """``text`` cut anywhere before the end of ``before`` (so a required part is missing)."""
    end = text.index(before) + len(before)
    return st.integers(0, end).map(lambda cut: text[:cut])


# -- stack files -------------------------------------------------------------------------------


@fuzz.surface_settings()
@given(data=with_bad_bytes(DEV))
def test_stack_file_bytes(folder: Path, data: bytes) -> None:
    (folder / "Pulumi.dev.yaml").write_bytes(data)
    refused("stack-file", folder, plan_argv(folder), "Pulumi.dev.yaml")


@fuzz.surface_settings()
@given(text=truncations(DEV, "costCenter: "))
def test_stack_file_truncated(folder: Path, text: str) -> None:
    (folder / "Pulumi.dev.yaml").write_text(text)
    refused("stack-file", folder, plan_argv(folder), "Pulumi.dev.yaml")


@fuzz.surface_settings()
@given(case=wrong_value_files())
def test_stack_file_wrong_values(folder: Path, case: tuple[str, str]) -> None:
    key, text = case
    (folder / "Pulumi.dev.yaml").write_text(text)
    outcome = refused("stack-file", folder, plan_argv(folder), "Pulumi.dev.yaml")
    assert key in outcome.err or ": line " in outcome.err, outcome.err  # the key, or the line


@fuzz.surface_settings()
@given(case=structural_files())
def test_stack_file_structure(folder: Path, case: tuple[str, str]) -> None:
    words, text = case
    (folder / "Pulumi.dev.yaml").write_text(text)
    outcome = fuzz.run("stack-file", plan_argv(folder), watch=[folder])
    fuzz.assert_clean(outcome, names="Pulumi.dev.yaml")
    assert words in outcome.err, outcome.err


@fuzz.surface_settings()
@given(size=st.integers(LIMIT + 1, LIMIT + 4096), filler=st.sampled_from(["#", " ", "\n"]))
def test_stack_file_huge(folder: Path, size: int, filler: str) -> None:
    (folder / "Pulumi.dev.yaml").write_text(DEV + filler * (size - len(DEV)))
    refused("stack-file", folder, plan_argv(folder), "Pulumi.dev.yaml")


# -- Pulumi.yaml -------------------------------------------------------------------------------


@st.composite
def project_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "cut", "config", "declaration", "name", "runtime"]))
    if kind == "bytes":
        return draw(with_bad_bytes(PROJECT_FILE))
    if kind == "cut":
        return draw(truncations(PROJECT_FILE, "runtime:")).encode()
    doc = yaml.safe_load(PROJECT_FILE)
    if kind == "config":
        doc["config"] = draw(
            st.one_of(st.lists(st.text(), max_size=3), st.integers(), st.booleans(), st.floats())
        )
    elif kind == "declaration":
        key = draw(st.sampled_from(sorted(doc["config"])))
        doc["config"][key] = draw(
            st.one_of(
                st.floats(),
                st.none(),
                st.dictionaries(
                    st.text(min_size=1, max_size=8).filter(
                        lambda k: (
                            k not in ("type", "description", "default", "value", "secret", "items")
                        )
                    ),
                    json_values(),
                    min_size=1,
                    max_size=3,
                ),
                st.fixed_dictionaries(
                    {
                        "type": st.text(max_size=8).filter(
                            lambda t: t not in ("string", "integer", "boolean", "array", "object")
                        )
                    }
                ),
                st.fixed_dictionaries(
                    {"secret": json_values().filter(lambda v: not isinstance(v, bool))}
                ),
                st.fixed_dictionaries(
                    {"description": json_values().filter(lambda v: not isinstance(v, str))}
                ),
                st.fixed_dictionaries(
                    {
                        "type": st.just("integer"),
                        "default": json_values().filter(
                            lambda v: (
                                isinstance(v, list | dict)
                                or (isinstance(v, str) and not v.strip().lstrip("-").isdigit())
                            )
                        ),
                    }
                ),
            )
        )
    elif kind == "name":
        doc["name"] = draw(
            st.one_of(
                st.none(),
                st.just(""),
                st.just("  "),
                st.lists(st.text(), max_size=2),
                st.integers(),
            )
        )
    else:
        doc["runtime"] = draw(
            st.one_of(
                st.none(),
                st.just(""),
                st.integers(),
                st.lists(st.text(), max_size=2),
                st.fixed_dictionaries({"name": st.integers()}),
            )
        )
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode()


@fuzz.surface_settings()
@given(data=project_files(), stack=st.sampled_from(["dev", "nosuch", "all"]))
def test_project_file(folder: Path, data: bytes, stack: str) -> None:
    (folder / "Pulumi.dev.yaml").write_text(DEV)
    (folder / "Pulumi.yaml").write_bytes(data)
    try:
        refused("project-file", folder, plan_argv(folder, stack), "Pulumi.yaml")
    finally:
        (folder / "Pulumi.yaml").write_text(PROJECT_FILE)


# -- policy-pack configs -----------------------------------------------------------------------

GOOD_PACK_CONFIG = json.dumps(
    {"cpu-request-cap": {"maxCpuMillis": 1000}, "right-size-hints": "advisory"}, indent=2
)


@st.composite
def pack_configs(draw: st.DrawFn) -> tuple[str, bytes]:
    """(suffix, bytes) of a config file wrong before any pack is asked."""
    kind = draw(st.sampled_from(["bytes", "cut", "top", "level", "all", "number", "dup", "huge"]))
    if kind == "bytes":
        return ".json", draw(with_bad_bytes(GOOD_PACK_CONFIG))
    if kind == "cut":
        cut = draw(st.integers(0, len(GOOD_PACK_CONFIG) - 1))  # any proper prefix of an object
        return ".json", GOOD_PACK_CONFIG[:cut].encode()
    if kind == "top":
        value = draw(json_values().filter(lambda v: not isinstance(v, dict) and v is not None))
        return ".json", json.dumps(value).encode()
    if kind == "level":
        level = draw(
            json_values().filter(
                lambda v: v not in ("advisory", "mandatory", "remediate", "disabled")
            )
        )
        where = draw(st.booleans())
        body = (
            {"cpu-request-cap": {"enforcementLevel": level}}
            if where
            else {"cpu-request-cap": level}
        )
        if not where and isinstance(level, dict):
            assume(False)
        return ".json", json.dumps(body).encode()
    if kind == "all":
        props = draw(
            st.dictionaries(
                st.text(min_size=1, max_size=8).filter(lambda k: k != "enforcementLevel"),
                json_values(),
                min_size=1,
                max_size=3,
            )
        )
        return ".json", json.dumps({"all": props}).encode()
    if kind == "number":
        bad = draw(
            st.sampled_from(
                ["NaN", "Infinity", "-Infinity", "1e400", "-1e999", str(2**53 + 1), str(-(2**60))]
            )
        )
        return ".json", json.dumps({"cpu-request-cap": {"maxCpuMillis": 0}}).replace(
            "0}", f"{bad}}}"
        ).encode()
    if kind == "dup":
        return ".json", b'{"cpu-request-cap": "advisory", "cpu-request-cap": "mandatory"}'
    return ".json", (GOOD_PACK_CONFIG[:-1] + ", " + '"pad": "' + "x" * (LIMIT + 10) + '"}').encode()


@fuzz.surface_settings()
@given(case=pack_configs())
def test_pack_config(folder: Path, case: tuple[str, bytes]) -> None:
    suffix, data = case
    cfg = folder / f"pack-config{suffix}"
    cfg.write_bytes(data)
    argv = [*plan_argv(folder), "--policy-pack", str(FINOPS), "--policy-pack-config", str(cfg)]
    refused("pack-config", folder, argv, str(cfg))


# -- summit plan's flags -----------------------------------------------------------------------


@st.composite
def plan_flags(draw: st.DrawFn, folder: Path) -> tuple[list[str], str]:
    """(argv after ``plan``, what the message must name)."""
    kind = draw(st.sampled_from(["output", "pairing", "not-a-pack", "stack", "cwd"]))
    base = ["-C", str(folder), "-q"]
    name = draw(st.text(alphabet="abcxyz-_. ", min_size=1, max_size=10))
    if kind == "output":
        flag = draw(st.sampled_from(["--json", "--markdown"]))
        target = draw(
            st.sampled_from(
                [str(folder), "", ".", str(folder / "Pulumi.yaml" / name), str(folder / name) + "/"]
            )
        )
        return ["-s", "dev", *base, flag, target], flag
    if kind == "pairing":
        packs = draw(st.integers(0, 3))
        configs = draw(st.integers(1, 4).filter(lambda n: n != packs))
        cfg = folder / "empty-config.json"
        cfg.write_text("{}")
        argv = ["-s", "dev", *base]
        argv += [a for _ in range(packs) for a in ("--policy-pack", str(FINOPS))]
        argv += [a for _ in range(configs) for a in ("--policy-pack-config", str(cfg))]
        return argv, "--policy-pack-config"
    if kind == "not-a-pack":
        target = draw(
            st.sampled_from([folder / name, folder, folder / "Pulumi.yaml", FINOPS / "config"])
        )
        return ["-s", "dev", *base, "--policy-pack", str(target)], "not a policy pack"
    if kind == "stack":
        stack = draw(
            st.one_of(
                st.text(max_size=20),
                st.binary(min_size=1, max_size=12).map(
                    lambda b: b.decode("utf-8", "surrogateescape")
                ),
            ).filter(
                lambda s: s not in ("dev", "all") and "\x00" not in s and not s.startswith("-")
            )
        )
        return ["-s", stack, *base], "unknown stack"
    missing = folder / f"missing-{name}"
    return [
        "-s",
        "dev",
        "-C",
        str(draw(st.sampled_from([missing, folder / "Pulumi.yaml"]))),
    ], "Pulumi project"


@fuzz.surface_settings()
@given(data=st.data())
def test_plan_flags(folder: Path, data: st.DataObject) -> None:
    (folder / "Pulumi.yaml").write_text(PROJECT_FILE)
    (folder / "Pulumi.dev.yaml").write_text(DEV)
    argv, names = data.draw(plan_flags(folder))
    outcome = fuzz.run("plan-flags", ["plan", *argv], watch=[folder])
    fuzz.assert_clean(outcome, names=names)


# -- what the pack itself refuses (its config schema), checked without a plan per example ------


@pytest.fixture(scope="module")
def finops_info() -> Any:
    """The real finops pack's AnalyzerInfo (policies and config schemas), asked once."""
    with PolicyPackProcess(FINOPS, project="summit-platform", stack="dev", config={}) as pack:
        return pack.stub.GetAnalyzerInfo(empty_pb2.Empty())


def _schemas(info: Any) -> dict[str, dict[str, Any]]:
    return {
        p.name: json_format.MessageToDict(p.configSchema).get("properties", {})
        for p in info.policies
    }


@st.composite
def schema_breaking_configs(draw: st.DrawFn, info: Any) -> tuple[dict[str, Any], list[str]]:
    """(a config, the ``policy.key`` each of its problems must name)."""
    schemas = _schemas(info)
    config: dict[str, Any] = {}
    expected: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["unknown-property", "wrong-type", "unknown-policy"]))
        if kind == "unknown-policy":
            name = draw(st.text(min_size=1, max_size=12).filter(lambda n: n not in schemas))
            assume(name != "all" and name not in config)
            config[name] = "advisory"
            expected.append(shown_key(name))
            continue
        policy = draw(st.sampled_from(sorted(schemas)))
        entry = config.setdefault(policy, {})
        assume(isinstance(entry, dict))
        numbers = [k for k, v in schemas[policy].items() if v.get("type") == "number"]
        if kind == "wrong-type" and numbers:
            prop = draw(st.sampled_from(numbers))
            entry[prop] = draw(
                json_values().filter(
                    lambda v: not isinstance(v, int | float) or isinstance(v, bool)
                )
            )
        else:
            prop = draw(
                st.text(min_size=1, max_size=12).filter(
                    lambda k, known=schemas[policy]: k not in known and k != "enforcementLevel"
                )
            )
            entry[prop] = draw(json_values())
        expected.append(f"{policy}.{shown_key(prop)}")
    return config, expected


@fuzz.surface_settings()
@given(data=st.data())
def test_pack_config_the_schema_refuses(finops_info: Any, data: st.DataObject) -> None:
    config, expected = data.draw(schema_breaking_configs(finops_info))
    with pytest.raises(PolicyPackError) as err:
        reconcile_config(finops_info, config, "cfg.json")
    found = str(err.value).splitlines()
    assert all(ln.startswith("cfg.json: ") and ln.isprintable() and len(ln) < 600 for ln in found)
    for key in expected:
        assert any(ln.startswith(f"cfg.json: {key}") for ln in found), (key, found)
