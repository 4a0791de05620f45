"""`traffic.controller` in the config model: what it needs, and config that steering would
silently ignore (dials or a pin in route53 mode without the controller) refused with the file
and the dotted key, exit 2 from `summit plan`, nothing written."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import fuzz
import pytest
import yaml

from summit_platform.stacks.config import ConfigError, from_values

ROOT = Path(__file__).resolve().parents[1]
PROD = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]


def _values(change: Any = None) -> dict[str, Any]:
    values = {
        k.split(":", 1)[1]: copy.deepcopy(v)
        for k, v in PROD.items()
        if k.startswith("summit-platform:")
    }
    if change:
        change(values)
    return values


def _controller(values: dict[str, Any]) -> dict[str, Any]:
    return values["traffic"]["controller"]


def _route53(values: dict[str, Any], controller: bool) -> None:
    values["traffic"].update(mode="route53", dnsZoneId="Z1", dnsName="api.summit.example")
    _controller(values)["enabled"] = controller


def test_prod_runs_the_controller_with_both_regions_configured():
    cfg = from_values(_values(), "Pulumi.prod.yaml")
    ctl = cfg.traffic.controller
    assert ctl.enabled and sorted(ctl.regions) == ["us-east-1", "us-west-2"]
    assert ctl.regions["us-west-2"].oidc_issuer.startswith("oidc.eks.us-west-2.amazonaws.com/id/")
    assert (ctl.interval, ctl.lease_duration, ctl.alert_after) == ("5s", "15s", "3m")


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (
            lambda v: _controller(v)["regions"].pop("us-west-2"),
            "summit-platform",
            "traffic.controller.regions: expected an entry (prometheusUrl, oidcProviderArn) for every region",
        ),
        (
            lambda v: _controller(v).update(leaseDuration="10s"),
            "summit-platform:traffic.controller",
            "leaseDuration: expected at least 3 x interval (5s)",
        ),
        (
            lambda v: _controller(v).update(interval="5"),
            "summit-platform:traffic.controller.interval",
            "a duration needs a unit",
        ),
        (
            lambda v: _controller(v)["regions"]["us-east-1"].update(
                oidcProviderArn="arn:aws:iam::1:role/x"
            ),
            "summit-platform:traffic.controller.regions.us-east-1.oidcProviderArn",
            "expected an IAM OIDC provider ARN",
        ),
        (
            lambda v: _controller(v)["regions"]["us-east-1"].update(
                prometheusUrl="prometheus:9090"
            ),
            "summit-platform:traffic.controller.regions.us-east-1.prometheusUrl",
            "expected an http(s) URL",
        ),
        (
            lambda v: _controller(v).update(leaseTable="no"),
            "summit-platform:traffic.controller.leaseTable",
            "expected a DynamoDB table name",
        ),
        (
            lambda v: (_route53(v, False), v["regions"][1].update(dial=40)),
            "summit-platform",
            "regions[].dial: route53 mode routes by latency unless traffic.controller.enabled",
        ),
        (
            lambda v: (
                _route53(v, False),
                v["traffic"].update(
                    pin={
                        "shares": {"us-east-1": 100, "us-west-2": 0},
                        "reason": "drill",
                        "at": "2026-11-27T12:00:00Z",
                        "expiresAt": "2026-11-27T12:30:00Z",
                    }
                ),
            ),
            "summit-platform",
            "traffic.pin: route53 mode routes by latency",
        ),
    ],
)
def test_bad_controller_config_names_the_key(change, key, words):
    with pytest.raises(ConfigError) as err:
        from_values(_values(change), "Pulumi.prod.yaml")
    ((got_key, msg),) = err.value.problems
    assert got_key == key and words in msg, (got_key, msg)


def test_route53_mode_steers_with_the_controller():
    cfg = from_values(_values(lambda v: (_route53(v, True), v["regions"][1].update(dial=40))), "x")
    assert cfg.traffic.mode == "route53" and cfg.regions[1].dial == 40


def test_summit_plan_refuses_an_ignored_dial_with_exit_2_and_writes_nothing(tmp_path):
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    doc = {
        "config": {
            f"summit-platform:{k}": v
            for k, v in _values(
                lambda v: (_route53(v, False), v["regions"][1].update(dial=40))
            ).items()
        }
    }
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(doc))
    outcome = fuzz.run(
        "plan (route53 dial)", ["plan", "--stack", "prod", "-C", str(tmp_path)], watch=[tmp_path]
    )
    fuzz.assert_clean(outcome, allowed=(2,), names="Pulumi.prod.yaml")
    assert "route53 mode routes by latency" in outcome.err


@pytest.mark.parametrize(
    "argv",
    [
        ["traffic", "pin", "us-east-1=100", "us-west-2=0", "--reason", "r", "--offline"],
        ["traffic", "apply", "--weights", "WEIGHTS", "--offline"],
        ["traffic", "run", "--max-iterations", "1", "--prometheus-url", "http://127.0.0.1:9"],
    ],
)
def test_steering_a_latency_routed_stack_is_refused_before_anything_is_written(tmp_path, argv):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    values = _values(lambda v: _route53(v, False))
    doc = {"config": {f"summit-platform:{k}": v for k, v in values.items()}}
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(doc))
    weights = tmp_path / "weights.json"
    weights.write_text(
        '[{"region": "us-east-1", "weight": 100}, {"region": "us-west-2", "weight": 0}]'
    )
    argv = [str(weights) if a == "WEIGHTS" else a for a in argv]
    outcome = fuzz.run(
        "traffic (route53, no controller)",
        [*argv, "--stack", "prod", "-C", str(tmp_path)],
        watch=[tmp_path],
    )
    fuzz.assert_clean(outcome, allowed=(2,), names="traffic.controller.enabled")
    assert "route53 mode routes by latency" in outcome.err
