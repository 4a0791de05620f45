"""`summit plan` without the CLI around it: load a stack file, run the program in the embedded
lane, and evaluate policy packs over the recorded graph through the Analyzer protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from summit_platform.automation.errors import UserError
from summit_platform.automation.plan.analyzer import (
    PackResult,
    PolicyPackError,
    Violation,
    discover_packs,
    evaluate_pack,
    load_pack_config,
)
from summit_platform.automation.plan.engine import Plan, config_map, run_program
from summit_platform.automation.plan.provider_check import ProviderCheck, check_plan
from summit_platform.automation.plan.provider_check.kubernetes import resolve_version
from summit_platform.automation.stack_files import project_file, stack_names, stack_values
from summit_platform.stacks.config import DEFAULT_KUBERNETES_VERSION, PROJECT, from_values


@dataclass
class StackInputs:
    """A stack's config as the engine would hand it to the program and the packs."""

    project: str
    stack: str
    source: str
    values: dict[str, Any]
    """The project namespace's values (bare keys), Pulumi.yaml defaults merged in."""
    config: dict[str, str]
    """The engine's flat config map, every namespace (``aws:region`` too)."""
    secret_keys: list[str]


@dataclass
class StackResult:
    """One planned stack with what every pack said about it."""

    plan: Plan
    inputs: StackInputs
    packs: list[PackResult] = field(default_factory=list)
    provider_check: ProviderCheck | None = None
    """What the providers would reject (None when the stack was only recorded)."""

    @property
    def violations(self) -> list[Violation]:
        checked = self.provider_check.violations() if self.provider_check else []
        return checked + [v for p in self.packs for v in p.violations]

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement == "mandatory"]


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return "secure" in value or any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def stack_inputs(
    project_dir: Path, stack: str, overrides: Mapping[str, Any] | None = None
) -> StackInputs:
    """Read Pulumi.yaml and Pulumi.<stack>.yaml and validate the namespace against the model
    before anything runs, so a bad stack file stops here with its file and key named."""
    pf, raw, values = stack_values(project_dir, stack)
    project = pf.name
    path = project_dir / f"Pulumi.{stack}.yaml"
    if overrides:
        values.update(overrides)
    if project == PROJECT:
        # The platform's model describes the platform project only; another project's
        # program reads its own config (a `regions` key there means whatever it means).
        # Raises ConfigError naming the file and the dotted key.
        from_values(values, str(path), secret_keys=pf.secret_keys)
    flat: dict[str, Any] = {
        k: v for k, v in raw.items() if ":" in k and not k.startswith(f"{project}:")
    }
    flat.update({f"{project}:{k}": v for k, v in values.items()})
    secret_keys = sorted(k for k, v in flat.items() if _has_secure(v))
    return StackInputs(
        project=project,
        stack=stack,
        source=str(path),
        values=values,
        config=config_map(project, flat),
        secret_keys=secret_keys,
    )


def kubernetes_version(inputs: StackInputs) -> str:
    """The cluster version the provider check validates against: the stack's
    ``kubernetesVersion`` (the project default when unset); bad input names file and key."""
    value = inputs.values.get("kubernetesVersion", DEFAULT_KUBERNETES_VERSION)
    try:
        return resolve_version(value)
    except ValueError as err:
        key = f"{inputs.project}:kubernetesVersion"
        raise UserError(str(err), source=inputs.source, key=key) from None


def resolve_stacks(project_dir: Path, stack: str) -> list[str]:
    """``all`` -> every committed stack file; otherwise the one named, which must exist.
    Pulumi.yaml is read first: a broken project file is named as such, whatever the stack."""
    project_file(project_dir)
    known = stack_names(project_dir)
    if stack == "all":
        if not known:
            raise UserError("no Pulumi.<stack>.yaml files", source=str(project_dir))
        return known
    if stack not in known:
        raise UserError(
            f"unknown stack {stack!r}: expected one of {', '.join(known) or '(none)'} or 'all'",
            source=str(project_dir / f"Pulumi.{stack}.yaml"),
        )
    return [stack]


def resolve_packs(
    project_dir: Path, packs: Sequence[Path] | None, configs: Sequence[Path] | None
) -> list[tuple[Path, Path | None]]:
    """Pair each ``--policy-pack`` with its ``--policy-pack-config`` file, one to one and in
    order, as the Pulumi CLI requires: configs without packs, or a count that differs, are
    refused (a config silently going to the wrong pack, or to none, would change verdicts).

    With no ``--policy-pack``, every pack under ``<project>/policypacks`` is used."""
    configs = list(configs or [])
    flag = "--policy-pack-config"
    if configs and not packs:
        raise UserError(
            "given without --policy-pack: name each pack, with its config in the same position",
            key=flag,
        )
    if configs and packs and len(configs) != len(packs):
        raise UserError(
            f"{len(configs)} given for {len(packs)} --policy-pack: give one config per pack,"
            " in the same order (as the Pulumi CLI requires)",
            key=flag,
        )
    chosen = [p.resolve() for p in packs] if packs else discover_packs(project_dir)
    for p in chosen:
        if not (p / "PulumiPolicy.yaml").is_file():
            raise UserError("not a policy pack (no PulumiPolicy.yaml)", source=str(p))
    return [(p, configs[i] if configs else None) for i, p in enumerate(chosen)]


def default_pack_config(pack: Path, stack: str, environment: Any = None) -> Path | None:
    """A pack's config for a stack: ``config/<stack>.json``, else the stack's environment's
    (``config/preview.json`` for a preview ``pr-N``), else none (the policies' defaults)."""
    for name in (stack, environment):
        if isinstance(name, str) and name and (pack / "config" / f"{name}.json").is_file():
            return pack / "config" / f"{name}.json"
    return None


def plan_stack(
    project_dir: Path | str,
    stack: str,
    *,
    packs: Sequence[tuple[Path, Path | None]] | None = None,
    overrides: Mapping[str, Any] | None = None,
    stack_tags: Mapping[str, str] | None = None,
    evaluate: bool = True,
    as_stack: str | None = None,
) -> StackResult:
    """Plan one stack and evaluate the given (pack, config-file) pairs over it.

    With ``packs=None`` every pack of the project is used, each with its
    :func:`default_pack_config`. ``overrides`` replace namespace keys and
    ``as_stack`` plans under another stack name (a preview ``pr-N`` is planned from its
    template's stack file with its one-region, minimal-replica config). ``evaluate=False``
    only plans; otherwise the provider check runs between recording and the packs. The one
    implementation of the embedded lane: ``summit plan``, ``finops`` and ``previews`` all
    call it."""
    project_dir = Path(project_dir).resolve()
    inputs = stack_inputs(project_dir, stack, overrides)
    k8s_version = kubernetes_version(inputs) if evaluate else ""
    plan = run_program(
        project_dir, as_stack or stack, inputs.project, inputs.config, inputs.secret_keys
    )
    result = StackResult(plan=plan, inputs=inputs)
    if not evaluate:
        return result
    result.provider_check = check_plan(plan, k8s_version)
    if packs is None:
        env = inputs.values.get("environment")
        packs = [(p, default_pack_config(p, stack, env)) for p in discover_packs(project_dir)]
    for pack_dir, cfg_file in packs:
        try:
            user_cfg = load_pack_config(cfg_file)
            result.packs.append(
                evaluate_pack(
                    pack_dir,
                    plan,
                    config=inputs.config,
                    secret_keys=inputs.secret_keys,
                    stack_tags=stack_tags,
                    pack_config=user_cfg,
                    pack_config_source=str(cfg_file) if cfg_file else "--policy-pack-config",
                )
            )
        except PolicyPackError as err:
            raise UserError(str(err)) from None
    return result
