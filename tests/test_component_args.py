"""Every component has the same shape: one frozen args model that rejects unknown fields, each
field documented, ``__init__(name, args, opts)``, providers only through ``opts``; and the canary
defaults have one source shared by the config model, the component args and the renderer."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import itertools
import typing
from pathlib import Path

import pulumi
import pytest

from summit_platform.components.args import ComponentArgs, ComponentArgsError
from summit_platform.components.canary_rollout import CanaryRolloutArgs
from summit_platform.components.global_traffic import GlobalTrafficArgs, RegionEndpoint
from summit_platform.components.render import canary as render
from summit_platform.components.service import ServiceComponentArgs
from summit_platform.stacks.config import RolloutConfig

ROOT = Path(__file__).resolve().parents[1]
COMPONENT_MODULES = sorted(p.stem for p in (ROOT / "components").glob("*.py") if p.stem != "args")
COMPONENT_MODULES.remove("__init__")


def components() -> list[tuple[str, type[pulumi.ComponentResource]]]:
    out = []
    for stem in COMPONENT_MODULES:
        module = importlib.import_module(f"summit_platform.components.{stem}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, pulumi.ComponentResource) and cls.__module__ == module.__name__:
                out.append((stem, cls))
    return out


def args_models(stem: str) -> list[type[ComponentArgs]]:
    module = importlib.import_module(f"summit_platform.components.{stem}")
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, ComponentArgs) and cls.__module__ == module.__name__
    ]


def test_one_component_per_file_with_the_same_constructor() -> None:
    found = components()
    assert sorted(stem for stem, _ in found) == COMPONENT_MODULES
    for _, cls in found:
        params = list(inspect.signature(cls.__init__).parameters)
        assert params == ["self", "name", "args", "opts"], cls
        hint = inspect.signature(cls.__init__).parameters["args"].annotation
        args_type = getattr(importlib.import_module(cls.__module__), str(hint))
        assert issubclass(args_type, ComponentArgs), cls


@pytest.mark.parametrize("stem", COMPONENT_MODULES)
def test_args_are_frozen_strict_and_every_field_is_documented(stem: str) -> None:
    source = (ROOT / "components" / f"{stem}.py").read_text()
    classes = {n.name: n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ClassDef)}
    models = args_models(stem)
    assert models, stem
    for model in models:
        assert model.model_config.get("frozen") is True
        assert model.model_config.get("extra") == "forbid"
        body = classes[model.__name__].body
        documented = {
            stmt.target.id
            for stmt, nxt in itertools.pairwise(body)
            if isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        }
        assert set(model.model_fields) <= documented, (model, set(model.model_fields) - documented)
        for field in model.model_fields.values():
            assert not _is_provider(field.annotation), (model, field)


def _is_provider(annotation: object) -> bool:
    """A provider type, or a container or union holding one."""
    if inspect.isclass(annotation) and issubclass(annotation, pulumi.ProviderResource):
        return True
    return any(_is_provider(a) for a in typing.get_args(annotation))


def test_a_provider_in_args_is_rejected_naming_the_field() -> None:
    endpoint = RegionEndpoint(region="us-east-1", endpoint_id="arn:aws:elasticloadbalancing:x")
    with pytest.raises(ComponentArgsError) as err:
        GlobalTrafficArgs.of(endpoints=[endpoint], tags={}, control_provider=object())
    assert str(err.value) == "GlobalTrafficArgs.control_provider: unknown field"
    with pytest.raises(ComponentArgsError, match=r"RegionEndpoint\.dial: .*found 120"):
        RegionEndpoint.of(region="us-east-1", endpoint_id="arn", dial=120)


def test_args_are_keyword_only_and_immutable() -> None:
    with pytest.raises(TypeError):
        CanaryRolloutArgs("web", "us-east-1", "platform", "img", "v1")  # type: ignore[misc]
    a = CanaryRolloutArgs(
        service="web", region="us-east-1", namespace="platform", image="img", version="v1"
    )
    with pytest.raises(ValueError, match="frozen"):
        a.port = 9090  # type: ignore[misc]


def test_canary_defaults_have_one_source() -> None:
    """The config model, both components' args and the renderer default to the same values;
    change render.canary's and every one follows."""
    cfg = RolloutConfig()
    canary = CanaryRolloutArgs(
        service="web", region="us-east-1", namespace="platform", image="img", version="v1"
    )
    service = ServiceComponentArgs.of(
        name="web",
        team="t",
        image="img",
        region="us-east-1",
        env="e",
        cost_center="c",
        namespace="web",
    )
    spec_defaults = {f.name: f.default for f in dataclasses.fields(render.RolloutSpecArgs)}
    expected_steps = render.default_steps()
    assert cfg.steps == canary.steps == service.steps == expected_steps
    for holder in (cfg, canary, service):
        assert holder.progress_deadline_seconds == render.DEFAULT_PROGRESS_DEADLINE_SECONDS
        assert (
            holder.abort_scale_down_delay_seconds == render.DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS
        )
        # None: derived from the steps (the step after the first weight above 0)
        assert holder.analysis_starting_step is None
        assert (holder.max_surge, holder.max_unavailable) == (
            render.DEFAULT_MAX_SURGE,
            render.DEFAULT_MAX_UNAVAILABLE,
        )
    assert spec_defaults["progress_deadline_seconds"] == render.DEFAULT_PROGRESS_DEADLINE_SECONDS
    assert spec_defaults["analysis_starting_step"] is None
    assert (spec_defaults["max_surge"], spec_defaults["max_unavailable"]) == (
        render.DEFAULT_MAX_SURGE,
        render.DEFAULT_MAX_UNAVAILABLE,
    )
    assert cfg.weight_tolerance_percent == render.DEFAULT_WEIGHT_TOLERANCE_PERCENT
    analysis = render.DEFAULT_ANALYSIS
    assert canary.analysis == analysis
    assert (cfg.p95_ms, cfg.error_ratio, service.error_ratio) == (
        analysis.p95_ms,
        analysis.error_ratio,
        analysis.error_ratio,
    )
    assert (cfg.analysis_interval, cfg.analysis_window) == (analysis.interval, analysis.window)
    assert (cfg.failure_limit, cfg.inconclusive_limit, cfg.prometheus_address) == (
        analysis.failure_limit,
        analysis.inconclusive_limit,
        analysis.prometheus_address,
    )
    # default_steps hands out a fresh list: one caller's edit cannot leak into another's default
    expected_steps[0]["setWeight"] = 99
    assert render.default_steps()[0] == {"setWeight": 10}
