"""The embedded lane's recording engine: URNs as the engine builds them, default providers,
secrets and unknowns as the engine encodes them, and several stacks in one process."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest
from conftest import run_component

from summit_platform.automation.plan.engine import PlanError, make_urn, run_program
from summit_platform.automation.plan.runner import plan_stack

ROOT = Path(__file__).resolve().parents[1]


class Outer(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("test:index:Outer", name, None, opts)
        inner = Inner(f"{name}-inner", pulumi.ResourceOptions(parent=self))
        self.register_outputs({"inner": inner.urn})


class Inner(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("test:index:Inner", name, None, opts)
        aws.s3.Bucket(
            f"{name}-bucket", tags={"team": "t"}, opts=pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({})


def test_urns_keep_the_whole_parent_type_chain():
    plan = run_component(lambda: Outer("o"))
    (bucket,) = plan.of_type("aws:s3/bucket:Bucket")
    assert bucket.urn == (
        "urn:pulumi:test::summit-platform::test:index:Outer$test:index:Inner$"
        "aws:s3/bucket:Bucket::o-inner-bucket"
    )
    (inner,) = plan.of_type("test:index:Inner")
    assert bucket.parent == inner.urn
    assert inner.parent == plan.of_type("test:index:Outer")[0].urn
    assert plan.of_type("test:index:Outer")[0].parent == plan.root_urn
    assert make_urn("s", "p", None, "a:b:C", "n") == "urn:pulumi:s::p::a:b:C::n"


def test_default_provider_is_added_for_resources_without_one():
    plan = run_component(lambda: aws.s3.Bucket("b", tags={"team": "t"}))
    (bucket,) = plan.of_type("aws:s3/bucket:Bucket")
    (default,) = plan.of_type("pulumi:providers:aws")
    assert default.name.startswith("default_") and default.options == {"default": True}
    assert bucket.provider == f"{default.urn}::{default.id}"


def test_secrets_and_unknowns_are_marked():
    def program():
        aws.s3.Bucket("b", bucket=pulumi.Output.secret("hidden-name"), tags={"team": "t"})

    plan = run_component(program)
    (bucket,) = plan.of_type("aws:s3/bucket:Bucket")
    assert bucket.inputs["bucket"] == {"secret": "hidden-name"}
    wire = bucket.wire_inputs["bucket"]
    assert wire["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"


def test_duplicate_urn_is_an_error():
    def program():
        aws.s3.Bucket("same")
        aws.s3.Bucket("same")

    with pytest.raises(PlanError, match="duplicate resource URN"):
        run_component(program)


def test_program_exception_is_reported_with_its_message():
    def program():
        raise RuntimeError("the program is broken")

    with pytest.raises(PlanError, match="RuntimeError: the program is broken"):
        run_component(program)


def test_stacks_in_one_process_do_not_leak_into_each_other():
    dev = plan_stack(ROOT, "dev", evaluate=False).plan
    prod = plan_stack(ROOT, "prod", evaluate=False).plan
    dev_again = plan_stack(ROOT, "dev", evaluate=False).plan
    assert [r.urn for r in dev.resources] == [r.urn for r in dev_again.resources]
    assert all(r.urn.startswith("urn:pulumi:prod::") for r in prod.resources)
    assert len(prod.of_type("aws:globalaccelerator/endpointGroup:EndpointGroup")) == 2
    assert len(dev.of_type("aws:globalaccelerator/endpointGroup:EndpointGroup")) == 1
    # the same plan twice gives the same synthesised values (diffable JSON)
    assert [r.outputs for r in dev.resources] == [r.outputs for r in dev_again.resources]


def test_missing_program_is_a_plan_error(tmp_path):
    with pytest.raises(PlanError, match=r"no __main__\.py"):
        run_program(tmp_path, "s", "p", {}, [])


def test_aliases_the_sdk_declares_are_kept_as_options():
    """aws.s3.Bucket declares an alias to its old token; the SDK sends it as an alias spec
    (this used to crash recording: aliasSpecs is only a flag, aliases the repeated field)."""
    plan = run_component(lambda: aws.s3.Bucket("b", tags={"team": "t"}))
    (bucket,) = plan.of_type("aws:s3/bucket:Bucket")
    specs = bucket.options["aliases"]
    assert {a["spec"]["type"] for a in specs} == {"aws:s3/bucketV2:BucketV2"}, specs
