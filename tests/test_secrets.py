"""Secrets never leak (issue 12, item 7): a kubeconfig (or any key Pulumi.yaml marks
``secret: true``) must be a Pulumi secret; plain text is exit 2 and no message, output file or
report shows any part of it; no config error echoes more than a short redacted prefix of a
value; the entry point redacts every line it prints.

Each test plants a recognisable value and greps every output for it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import fuzz
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from summit_platform.automation import cli
from summit_platform.automation.errors import CheckFailed, UserError
from summit_platform.automation.plan.engine import run_program
from summit_platform.automation.plan.report import to_json
from summit_platform.automation.plan.runner import StackResult, stack_inputs
from summit_platform.components.render.redact import redact_text
from summit_platform.stacks.config import ConfigError, from_values

ROOT = Path(__file__).resolve().parents[1]
DEV = (ROOT / "Pulumi.dev.yaml").read_text()
PLANT = "PLANTED-KUBECONFIG-4f1c9e2a-do-not-print"
"""A recognisable plaintext: no output may contain it, nor its first 8 characters."""


def project(tmp_path: Path, stack_tail: str = "", pulumi: str | None = None) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(ROOT / "__main__.py", folder)
    (folder / "Pulumi.yaml").write_text(pulumi or (ROOT / "Pulumi.yaml").read_text())
    (folder / "Pulumi.dev.yaml").write_text(DEV + stack_tail)
    return folder


def leaked(text: str) -> bool:
    return PLANT[:8] in text or PLANT in text


def every_output(folder: Path, outcome: fuzz.Outcome) -> str:
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix in (".json", ".md")]
    return outcome.text + "".join(p.read_text(errors="replace") for p in files)


PLAINTEXTS = {
    "a-string": f"    us-east-1: {PLANT}\n",
    "plaintext-key": f"    us-east-1: {{plaintext: {PLANT}}}\n",
    "beside-secure": f"    us-east-1: {{secure: 'v1:abc', note: {PLANT}}}\n",
    "secure-a-list": f"    us-east-1: {{secure: [{PLANT}]}}\n",
    "in-a-list": f"    us-east-1: [{PLANT}]\n",
    "unknown-region": f"    us-east-1: {{secure: 'v1:abc'}}\n    eu-west-9: {PLANT}\n",
    "a-number-key": f"    us-east-1: {{secure: 'v1:abc'}}\n    '7': {PLANT}\n",
}


@pytest.mark.parametrize("case", sorted(PLAINTEXTS))
@pytest.mark.parametrize("command", ["plan", "rules"])
def test_a_plaintext_kubeconfig_is_refused_and_never_shown(
    tmp_path: Path, case: str, command: str
) -> None:
    folder = project(tmp_path, "  summit-platform:kubeconfigs:\n" + PLAINTEXTS[case])
    out = ["--json", str(folder / "out.json")]
    argv = {
        "plan": ["plan", "-s", "dev", "-C", str(folder), *out, "--markdown", str(folder / "o.md")],
        "rules": ["rules", "render", "-s", "dev", "-C", str(folder), "--out", str(folder / "r")],
    }[command]
    outcome = fuzz.run("stack-file", argv, watch=[folder])
    fuzz.assert_clean(outcome, names="summit-platform:kubeconfigs")
    assert not leaked(every_output(folder, outcome)), outcome.err


def test_a_whole_plaintext_kubeconfigs_map_is_refused(tmp_path: Path) -> None:
    folder = project(tmp_path, f"  summit-platform:kubeconfigs: '{PLANT}'\n")
    outcome = fuzz.run("stack-file", ["plan", "-s", "dev", "-C", str(folder)], watch=[folder])
    fuzz.assert_clean(outcome, names="summit-platform:kubeconfigs")
    assert "expected a Pulumi secret" in outcome.err and not leaked(outcome.text)


def test_a_plaintext_default_in_pulumi_yaml_is_refused(tmp_path: Path) -> None:
    pulumi = (
        (ROOT / "Pulumi.yaml")
        .read_text()
        .replace(
            "    secret: true\n    default: {}\n",
            f"    secret: true\n    default: {{us-east-1: {PLANT}}}\n",
        )
    )
    folder = project(tmp_path, pulumi=pulumi)
    outcome = fuzz.run("project-file", ["plan", "-s", "dev", "-C", str(folder)], watch=[folder])
    fuzz.assert_clean(outcome, names="config.kubeconfigs.default.us-east-1")
    assert "Pulumi.yaml" in outcome.err and not leaked(outcome.text)


def test_any_key_pulumi_yaml_marks_secret_must_be_one(tmp_path: Path) -> None:
    pulumi = (ROOT / "Pulumi.yaml").read_text() + "  alertWebhook:\n    secret: true\n"
    hook = f"https://hooks.slack.com/services/T0/B0/{PLANT}"
    folder = project(tmp_path, f"  summit-platform:alertWebhook: {hook}\n", pulumi=pulumi)
    outcome = fuzz.run("stack-file", ["plan", "-s", "dev", "-C", str(folder)], watch=[folder])
    fuzz.assert_clean(outcome, names="summit-platform:alertWebhook")
    assert "expected a Pulumi secret" in outcome.err and not leaked(outcome.text)


def test_a_secure_kubeconfig_is_masked_in_every_report(tmp_path: Path) -> None:
    folder = project(
        tmp_path, f"  summit-platform:kubeconfigs:\n    us-east-1: {{secure: 'v1:{PLANT}'}}\n"
    )
    argv = ["plan", "-s", "dev", "-C", str(folder), "--json", str(folder / "out.json")]
    outcome = fuzz.run("stack-file", [*argv, "--markdown", str(folder / "out.md")])
    assert outcome.code == 0, outcome.err
    assert not leaked(every_output(folder, outcome))
    doc = json.loads((folder / "out.json").read_text())
    providers = [
        r
        for r in doc["stacks"]["dev"]["resources"]
        if r["type"] == "pulumi:providers:kubernetes" and "kubeconfig" in r["inputs"]
    ]
    assert providers and all(r["inputs"]["kubeconfig"] == {"secret": "[secret]"} for r in providers)


def _engine_config(kubeconfigs: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The dev stack's config as the engine hands it to the program in the cloud lane, where
    kubeconfigs arrive decrypted."""
    inputs = stack_inputs(ROOT, "dev")
    config = dict(inputs.config)
    config[f"{inputs.project}:kubeconfigs"] = json.dumps(kubeconfigs)
    return inputs.project, config


def test_the_program_refuses_a_kubeconfig_the_engine_does_not_hold_secret() -> None:
    # The Pulumi CLI checks `secret: true` only on typed keys: a plaintext kubeconfig in a stack
    # file reaches the program in the cloud lane as an ordinary value. The program refuses it.
    project_name, config = _engine_config({"us-east-1": PLANT})
    with pytest.raises(ConfigError) as err:
        run_program(ROOT, "dev", project_name, config, secret_keys=[])
    assert "summit-platform:kubeconfigs: expected a Pulumi secret" in str(err.value)
    assert not leaked(str(err.value))


def test_a_decrypted_secret_kubeconfig_is_used_and_masked() -> None:
    project_name, config = _engine_config({"us-east-1": PLANT})
    plan = run_program(
        ROOT, "dev", project_name, config, secret_keys=[f"{project_name}:kubeconfigs"]
    )
    (provider,) = [
        r for r in plan.of_type("pulumi:providers:kubernetes") if "kubeconfig" in r.inputs
    ]
    assert provider.inputs["kubeconfig"] == {"secret": PLANT}  # handed on, as a secret
    report = json.dumps(to_json([StackResult(plan=plan, inputs=stack_inputs(ROOT, "dev"))]))
    assert not leaked(report) and '"kubeconfig": {"secret": "[secret]"}' in report


# -- no message echoes more than a short redacted prefix ---------------------------------------

FIELDS = [
    ("environment", lambda v, c: c.__setitem__("environment", v)),
    ("regions[0].endpointArn", lambda v, c: c["regions"][0].__setitem__("endpointArn", v)),
    ("regions[0].naturalShare", lambda v, c: c["regions"][0].__setitem__("naturalShare", v)),
    ("services[0].name", lambda v, c: c["services"][0].__setitem__("name", v)),
    ("services[0].image", lambda v, c: c["services"][0].__setitem__("image", [v])),
    (
        "observability.histogramMetric",
        lambda v, c: c.__setitem__("observability", {"histogramMetric": v}),
    ),
    ("rollout.analysisInterval", lambda v, c: c.__setitem__("rollout", {"analysisInterval": v})),
    ("rollout.steps[0]", lambda v, c: c.__setitem__("rollout", {"steps": [{"setWeight": v}]})),
    (
        "services[0].resources.cpuRequest",
        lambda v, c: c["services"][0].__setitem__("resources", {"cpuRequest": v}),
    ),
    ("traffic.mode", lambda v, c: c.__setitem__("traffic", {"mode": v})),
    ("flags.regionOverrides", lambda v, c: c.__setitem__("flags", {"regionOverrides": {v: {}}})),
]


def _dev_values() -> dict:
    raw = yaml.safe_load(DEV)["config"]
    return {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("summit-platform:")}


@pytest.mark.fuzz
@fuzz.surface_settings()
@given(
    field=st.sampled_from(FIELDS),
    secret=st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=12, max_size=40),
    padding=st.text(min_size=0, max_size=300),
)
def test_no_config_message_shows_more_than_a_short_redacted_prefix(field, secret, padding) -> None:
    name, put = field
    value = f"https://user:{secret}@host.example/path?token={secret}&{padding}{secret}"
    values = _dev_values()
    put(value, values)
    with pytest.raises(ConfigError) as err:
        from_values(values, "Pulumi.dev.yaml")
    text = str(err.value)
    assert secret not in text and secret[:10] not in text
    assert all(len(line) < 400 and line.isprintable() for line in text.splitlines())
    assert name.split("[")[0].split(".")[0] in text


# -- the entry point redacts every line it prints ---------------------------------------------

URL = f"https://admin:{PLANT}@prometheus.example:9090/api/v1/query?token={PLANT}"
HOOK = f"https://hooks.slack.com/services/T0/B0/{PLANT}"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UserError(f"cannot reach {URL}\nnor {HOOK}", source="metrics.json"), 2),
        (ConfigError("Pulumi.dev.yaml", [("k", f"bad {URL}"), ("j", f"bad {HOOK}")]), 2),
        (CheckFailed(f"gate failed against {URL}"), 1),
        (RuntimeError(f"boom at {HOOK}"), 70),
    ],
    ids=["user", "config", "check", "internal"],
)
@pytest.mark.parametrize("debug", [False, True])
def test_the_entry_point_redacts_every_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error, code, debug
) -> None:
    def fail(*_a: object, **_k: object) -> None:
        raise error

    monkeypatch.setattr("summit_platform.automation.plan.runner.resolve_stacks", fail)
    argv = ["--debug"] * debug + ["plan", "-s", "dev"]
    assert cli.main(argv) == code
    captured = capsys.readouterr()
    assert not leaked(captured.out + captured.err)
    assert "***@prometheus.example:9090" in captured.err or "hooks.slack.com/***" in captured.err


def test_a_usage_error_is_redacted_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["traffic", "simulate", "--interval", URL]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("Usage: summit traffic simulate")
    assert not leaked(captured.err) and "found '***" in captured.err


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("  http://test.k6.io: p95 122.7 ms", "  http://test.k6.io: p95 122.7 ms"),
        (f"see ({URL}).", "see (https://***@prometheus.example:9090/api/v1/query?***)."),
        (f"{HOOK}, then", "https://hooks.slack.com/***, then"),
    ],
)
def test_redaction_keeps_the_text_around_a_url(text: str, shown: str) -> None:
    assert redact_text(text) == shown
