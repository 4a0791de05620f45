"""Bad config input, one reproducer per test: stack files, Pulumi.yaml, ``summit plan``'s flags
and policy-pack configs (issue 12). Each runs the real entry point in-process
(:func:`fuzz.run`) and checks the promise: exit 2, one ``summit: error:`` line per problem that
names the file (or flag) and the key, no traceback, nothing written.

``tests/test_fuzz_config.py`` generates many more inputs of each kind;
``tests/test_secrets.py`` covers the secrets; the test names here are the issue's words.
"""

from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path

import fuzz
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEV = (ROOT / "Pulumi.dev.yaml").read_text()
PROJECT_FILE = (ROOT / "Pulumi.yaml").read_text()
FINOPS = ROOT / "policypacks" / "finops"
BOMB = "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9 if p else ['x'] * 9)}]\n"
    for p, n in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)
"""The nine-line "billion laughs": 9**9 (387 million) values once expanded."""


def project(
    tmp_path: Path, *, stack: str | bytes = DEV, pulumi: str | bytes = PROJECT_FILE
) -> Path:
    """A copy of this project (program, Pulumi.yaml, a dev stack file) with the given files."""
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(ROOT / "__main__.py", folder)
    for name, body in (("Pulumi.yaml", pulumi), ("Pulumi.dev.yaml", stack)):
        (folder / name).write_bytes(body if isinstance(body, bytes) else body.encode())
    return folder


def plan(
    folder: Path, *extra: str, stack: str = "dev", surface: str = "stack-file"
) -> fuzz.Outcome:
    """``summit plan`` on ``folder`` with ``--json``/``--markdown`` into it, watching it all."""
    argv = ["plan", "-s", stack, "-C", str(folder), "-q"]
    argv += ["--json", str(folder / "out.json"), "--markdown", str(folder / "out.md"), *extra]
    return fuzz.run(surface, argv, watch=[folder])


def lines(outcome: fuzz.Outcome) -> list[str]:
    return [ln for ln in outcome.err.splitlines() if ln.strip()]


def assert_refused(outcome: fuzz.Outcome, name: str, *words: str) -> list[str]:
    """Exit 2, nothing written, no traceback; every line an error naming ``name``; every one
    of ``words`` said somewhere. Returns the lines."""
    fuzz.assert_clean(outcome, names=name)
    found = lines(outcome)
    assert all(ln.startswith("summit: error: ") and name in ln for ln in found), found
    for word in words:
        assert word in outcome.err, (word, found)
    return found


# -- stack files -------------------------------------------------------------------------------


def test_invalid_utf8_in_a_stack_file_names_the_byte(tmp_path: Path) -> None:
    folder = project(tmp_path, stack=DEV.encode() + b"  summit-platform:x: caf\xe9\n")
    found = assert_refused(plan(folder), "Pulumi.dev.yaml", "not valid UTF-8 at byte")
    assert len(found) == 1 and "(found 0xe9)" in found[0]


@pytest.mark.parametrize("line", ["1: 2", "~: 2", "true: 2", "[a, b]: 2"])
def test_non_string_yaml_keys(tmp_path: Path, line: str) -> None:
    folder = project(tmp_path, stack=f"config:\n  {line}\n")
    assert_refused(plan(folder), "Pulumi.dev.yaml", "line 2", "keys must be strings")


def test_the_nine_line_alias_bomb_is_refused_small(tmp_path: Path) -> None:
    folder = project(tmp_path, stack=BOMB)
    tracemalloc.start()
    try:
        outcome = plan(folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_refused(outcome, "Pulumi.dev.yaml", "aliases expand to more than")
    # Expanded, the bomb is hundreds of millions of values (gigabytes); refused, it is a few
    # dozen nodes. 64 MiB is far above the refusal and far below any expansion.
    assert peak < 64 * 1024 * 1024, peak


def test_duplicate_keys_name_the_key_and_both_lines(tmp_path: Path) -> None:
    folder = project(tmp_path, stack=DEV + "  summit-platform:environment: prod\n")
    (found,) = assert_refused(plan(folder), "Pulumi.dev.yaml")
    first = DEV.splitlines().index("  summit-platform:environment: dev") + 1
    last = len(DEV.splitlines()) + 1
    assert (
        f"line {last}: duplicate key 'summit-platform:environment' (first at line {first})" in found
    )


def test_the_same_key_with_and_without_its_namespace(tmp_path: Path) -> None:
    folder = project(tmp_path, stack=DEV + "  environment: prod\n")
    assert_refused(plan(folder), "Pulumi.dev.yaml", "environment: the same key as")


def test_a_key_with_two_colons(tmp_path: Path) -> None:
    folder = project(tmp_path, stack=DEV + "  summit-platform:traffic:mode: ga\n")
    assert_refused(plan(folder), "Pulumi.dev.yaml", "summit-platform:traffic:mode", "one colon")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("- a list\n", ("expected a mapping with a `config:` key",)),
        ("config: [1, 2]\n", ("config: expected a mapping of config keys",)),
        ("config:\n  aws:region: 2001-12-14\n", ("aws:region: expected a string", "found a date")),
        ("config:\n  aws:region: !!binary YWJj\n", ("aws:region", "found binary data")),
        ("config:\n  summit-platform:regions: 1.0e+400\n", ("expected a finite number",)),
        ("config:\n  summit-platform:regions: .nan\n", ("expected a finite number",)),
        ("config:\n  x: " + "1" * 5000 + "\n", ("a number of more than 4300 digits",)),
    ],
    ids=["list", "config-list", "date", "binary", "1e400", "nan", "5000-digits"],
)
def test_a_stack_file_of_the_wrong_shape(tmp_path: Path, body: str, words: tuple[str, ...]) -> None:
    assert_refused(plan(project(tmp_path, stack=body)), "Pulumi.dev.yaml", *words)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("prod\u202e", "'prod\\u202e'"),  # a bidirectional override, shown escaped
        (
            "\uff50\uff52\uff4f\uff44",
            "'\uff50\uff52\uff4f\uff44'",
        ),  # full-width letters are not "prod"
        ("pr\u200bod", "'pr\\u200bod'"),  # a zero-width space
    ],
)
def test_odd_unicode_in_values_is_refused_and_shown_escaped(
    tmp_path: Path, value: str, shown: str
) -> None:
    text = DEV.replace(
        "summit-platform:environment: dev", f'summit-platform:environment: "{value}"'
    )
    (found,) = assert_refused(plan(project(tmp_path, stack=text)), "Pulumi.dev.yaml", shown)
    assert found.isprintable()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("naturalShare", "'\uff11\uff10\uff10'"),
        ("naturalShare", "'\u0661\u0660\u0660'"),
        ("dial", "'\u00b2'"),
        ("dial", "'\uff11'"),
    ],
)
def test_odd_unicode_digits_are_not_numbers(tmp_path: Path, key: str, value: str) -> None:
    written = "naturalShare: 100" if key == "naturalShare" else "naturalShare: 100\n      dial: 100"
    text = DEV.replace("naturalShare: 100", written).replace(f"{key}: 100", f"{key}: {value}")
    assert value in text
    assert_refused(plan(project(tmp_path, stack=text)), "Pulumi.dev.yaml", f"regions[0].{key}")


def test_a_huge_stack_file_is_refused_before_parsing(tmp_path: Path) -> None:
    body = DEV + ("# " + "x" * 1022 + "\n") * 1100  # just over 1 MiB of comments
    assert_refused(plan(project(tmp_path, stack=body)), "Pulumi.dev.yaml", "larger than 1048576")


def test_a_huge_value_is_refused_and_not_echoed(tmp_path: Path) -> None:
    huge = "https://user:hunter2@evil.example/" + "A" * 400_000
    text = DEV.replace("summit-platform:environment: dev", f"summit-platform:environment: '{huge}'")
    (found,) = assert_refused(plan(project(tmp_path, stack=text)), "Pulumi.dev.yaml", "environment")
    assert len(found) < 400 and "hunter2" not in found and "A" * 30 not in found


@pytest.mark.parametrize("cut", [0, 40, 200, 400, 700])
def test_a_truncated_stack_file(tmp_path: Path, cut: int) -> None:
    text = DEV[: DEV.index("costCenter:")][:cut] if cut else ""
    (found, *_) = assert_refused(plan(project(tmp_path, stack=text)), "Pulumi.dev.yaml")
    assert "summit-platform:" in found or "line " in found  # names the key or the line


# -- Pulumi.yaml -------------------------------------------------------------------------------


def test_invalid_utf8_in_pulumi_yaml(tmp_path: Path) -> None:
    folder = project(tmp_path, pulumi=PROJECT_FILE.encode() + b"# \xfe\n")
    assert_refused(plan(folder, surface="project-file"), "Pulumi.yaml", "not valid UTF-8 at byte")


SHAPES = {
    "not-a-mapping": ("- a\n- b\n", "expected a Pulumi project file"),
    "no-name": ("runtime: python\n", "name: expected the project's name"),
    "name-a-list": ("name: [a]\nruntime: python\n", "name: expected the project's name"),
    "no-runtime": ("name: summit-platform\n", "runtime: expected the language runtime"),
    "runtime-odd": ("name: x\nruntime: {name: python, colour: red}\n", "runtime.colour"),
    "config-a-list": ("name: x\nruntime: python\nconfig: [1, 2]\n", "config: expected a mapping"),
    "config-a-number": ("name: x\nruntime: python\nconfig: 5\n", "config: expected a mapping"),
    "spec-a-float": ("name: x\nruntime: python\nconfig:\n  a: 1.5\n", "config.a: expected a value"),
    "spec-null": ("name: x\nruntime: python\nconfig:\n  a:\n", "config.a: expected a value"),
    "spec-unknown-key": ("name: x\nruntime: python\nconfig:\n  a: {mode: ga}\n", "config.a.mode"),
    "spec-type": ("name: x\nruntime: python\nconfig:\n  a: {type: float}\n", "config.a.type"),
    "spec-secret": ("name: x\nruntime: python\nconfig:\n  a: {secret: yes please}\n", "a.secret"),
    "spec-description": ("name: x\nruntime: python\nconfig:\n  a: {description: 5}\n", "a.desc"),
    "array-no-items": ("name: x\nruntime: python\nconfig:\n  a: {type: array}\n", "config.a.items"),
    "default-type": (
        "name: x\nruntime: python\nconfig:\n  a: {type: integer, default: many}\n",
        "config.a.default: expected integer",
    ),
    "two-colons": ("name: x\nruntime: python\nconfig:\n  a:b:c: 1\n", "config.a:b:c"),
    "model-default": (
        PROJECT_FILE.replace("mode: ga\n", "mode: warp\n"),
        "config.traffic.default.mode: Input should be 'ga', 'route53' or 'none'; found 'warp'",
    ),
    "unknown-model-key": (
        PROJECT_FILE + "  trafic:\n    default: {mode: ga}\n",
        "config.trafic.default: not a key of the summit-platform config",
    ),
}


@pytest.mark.parametrize("case", sorted(SHAPES))
def test_a_pulumi_yaml_of_the_wrong_shape(tmp_path: Path, case: str) -> None:
    body, words = SHAPES[case]
    assert_refused(
        plan(project(tmp_path, pulumi=body), surface="project-file"), "Pulumi.yaml", words
    )


@pytest.mark.parametrize("stack", ["dev", "nosuch", "all"])
def test_plan_names_a_broken_pulumi_yaml_whatever_the_stack(tmp_path: Path, stack: str) -> None:
    folder = project(tmp_path, pulumi="name: [garbage\n")
    found = assert_refused(plan(folder, stack=stack, surface="project-file"), "Pulumi.yaml")
    assert not any("unknown stack" in ln for ln in found)


def test_declared_types_are_checked_on_stack_values(tmp_path: Path) -> None:
    pulumi = PROJECT_FILE.replace(
        "  environment:\n    type: string\n", "  environment:\n    type: integer\n"
    )
    assert pulumi != PROJECT_FILE
    folder = project(tmp_path, pulumi=pulumi)
    assert_refused(
        plan(folder),
        "Pulumi.dev.yaml",
        "summit-platform:environment: expected a value of type integer",
    )


# -- summit plan's flags -----------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--json", "--markdown"])
def test_an_output_flag_pointing_at_a_folder(tmp_path: Path, flag: str) -> None:
    folder = project(tmp_path)
    argv = ["plan", "-s", "dev", "-C", str(folder), flag, str(folder)]
    outcome = fuzz.run("plan-flags", argv, watch=[folder])
    fuzz.assert_clean(outcome, names=flag)
    assert "found a folder" in outcome.err


def test_an_output_flag_under_a_file(tmp_path: Path) -> None:
    folder = project(tmp_path)
    argv = [
        "plan",
        "-s",
        "dev",
        "-C",
        str(folder),
        "--json",
        str(folder / "Pulumi.yaml" / "x.json"),
    ]
    fuzz.assert_clean(fuzz.run("plan-flags", argv, watch=[folder]), names="--json")


# -- policy-pack configs -----------------------------------------------------------------------


def pack_plan(folder: Path, packs: list[Path], configs: list[Path]) -> fuzz.Outcome:
    argv = ["plan", "-s", "dev", "-C", str(folder), "-q", "--json", str(folder / "out.json")]
    argv += [a for p in packs for a in ("--policy-pack", str(p))]
    argv += [a for c in configs for a in ("--policy-pack-config", str(c))]
    return fuzz.run("pack-config", argv, watch=[folder, *configs])


@pytest.mark.parametrize(
    ("packs", "configs"), [(0, 1), (2, 1), (1, 2)], ids=["no-pack", "fewer", "more"]
)
def test_pack_configs_pair_one_to_one_with_packs(tmp_path: Path, packs: int, configs: int) -> None:
    folder = project(tmp_path)
    cfgs = []
    for i in range(configs):
        cfgs.append(folder / f"cfg{i}.json")
        cfgs[-1].write_text("{}")
    outcome = pack_plan(folder, [FINOPS] * packs, cfgs)
    fuzz.assert_clean(outcome, names="--policy-pack-config")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"cpu-request-cap": {"maxCpuMillis": 1\xff}}', "not valid UTF-8 at byte"),
        (b'{"cpu-request-cap": {"maxCpuMillis": NaN}}', "expected a finite number"),
        (b'{"cpu-request-cap": {"maxCpuMillis": 1e400}}', "expected a finite number"),
        (b'{"cpu-request-cap": {"maxCpuMillis": 90071992547409930}}', "2**53"),
        (b'{"cpu-request-cap": "strict"}', "cpu-request-cap: expected an enforcement level"),
        (b'{"cpu-request-cap": {"enforcementLevel": 1}}', "enforcementLevel: expected an enf"),
        (b'{"all": {"maxCpuMillis": 5}}', "all: `all` sets only an enforcementLevel"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b"[1, 2]", "expected an object of policy name -> config, found a list"),
        (b'{"cpu-request-cap": {"maxCpuMillis": 10', "not valid JSON"),
    ],
    ids=["utf8", "nan", "1e400", "2**53", "level", "level-type", "all-props", "dup", "list", "cut"],
)
def test_a_bad_pack_config_is_refused_before_anything_runs(
    tmp_path: Path, body: bytes, words: str
) -> None:
    folder = project(tmp_path)
    cfg = folder / "cfg.json"
    cfg.write_bytes(body)
    outcome = pack_plan(folder, [FINOPS], [cfg])
    assert_refused(outcome, str(cfg), words)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (
            {"cpu-request-cap": {"maxCpuMilis": 2000}},
            "cpu-request-cap.maxCpuMilis: unknown property",
        ),
        (
            {"cpu-request-cap": {"maxCpuMillis": "lots"}},
            "cpu-request-cap.maxCpuMillis: 'lots' is not",
        ),
        (
            {"cpu-request-cap": {"maxCpuMillis": -5}},
            "cpu-request-cap.maxCpuMillis: -5 is less than",
        ),
        ({"cpu-request-caps": "advisory"}, "cpu-request-caps: unknown policy for pack"),
    ],
    ids=["unknown-property", "wrong-type", "out-of-range", "unknown-policy"],
)
def test_a_pack_config_the_pack_refuses(tmp_path: Path, config: dict, words: str) -> None:
    folder = project(tmp_path)
    cfg = folder / "cfg.json"
    cfg.write_text(json.dumps(config))
    assert_refused(pack_plan(folder, [FINOPS], [cfg]), str(cfg), words)


def test_a_program_that_raises_is_one_line_naming_where(tmp_path: Path) -> None:
    folder = project(tmp_path)
    (folder / "__main__.py").write_text(
        '"""A program that fails."""\n\n\ndef build():\n    raise RuntimeError("no luck")\n\n\nbuild()\n'
    )
    (found,) = assert_refused(plan(folder), "Pulumi.dev.yaml")
    assert found.endswith("the program raised RuntimeError: no luck (at __main__.py:5 in build)")
    assert "File " not in found and "Traceback" not in found
