"""The gateway's contract run: Schemathesis against the running app, on loopback, with the
contract in ``apps/gateway/openapi.yaml``.

One entry point for people, ``.ci/run`` (tests/test_gateway_contract.py) and the contract
workflow (.github/workflows/contract.yml, which uploads the JUnit report as the
``contract-report`` artifact)::

    python -m summit_platform.apps.gateway.contract --report reports/contract/gateway.xml
    python -m summit_platform.apps.gateway.contract --url http://127.0.0.1:8080   # a gateway already running

Without ``--url`` it starts a gateway in-process on a free port of 127.0.0.1 (faults off,
whatever the environment says) and stops it afterwards. The exit code is Schemathesis's:
0 when every operation conforms, 1 when a check failed.

The checks are every response check Schemathesis has except ``negative_data_rejection``: the
gateway reads a ``page`` it cannot parse as page 0, as the contract says, rather than
refusing it. Examples are seeded, so a run is reproducible.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from summit_platform.apps.gateway.app import start

CONTRACT = Path(__file__).resolve().with_name("openapi.yaml")
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
)
PHASES = "examples,coverage,fuzzing"


def schemathesis_argv(
    url: str, *, junit: Path | None = None, max_examples: int = 50, seed: int = 1
) -> list[str]:
    """The Schemathesis command line for a run against ``url`` (JUnit report to ``junit``)."""
    argv = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(CONTRACT),
        "--url",
        url,
        "--checks",
        ",".join(CHECKS),
        "--phases",
        PHASES,
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--workers",
        "1",
        # No example database: a run depends on its seed alone.
        "--generation-database",
        "none",
    ]
    if junit is not None:
        argv += ["--report", "junit", "--report-junit-path", str(junit)]
    return argv


def run(
    url: str,
    *,
    junit: Path | None = None,
    max_examples: int = 50,
    seed: int = 1,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run Schemathesis against a gateway at ``url``; the report's folder is created. It runs
    in a temporary folder: Schemathesis keeps a cache of failures under ``./.schemathesis``,
    which must not land in the checkout."""
    if junit is not None:
        junit = junit.resolve()
        junit.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="contract-") as scratch:
        return subprocess.run(
            schemathesis_argv(url, junit=junit, max_examples=max_examples, seed=seed),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=scratch,
        )


def main(argv: list[str] | None = None) -> int:
    """``python -m summit_platform.apps.gateway.contract``: the contract run, Schemathesis's exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m summit_platform.apps.gateway.contract", description=__doc__
    )
    parser.add_argument("--url", help="a running gateway (default: start one on 127.0.0.1)")
    parser.add_argument("--report", type=Path, help="write the JUnit XML report here")
    parser.add_argument("--max-examples", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.max_examples < 1:
        parser.error("--max-examples: expected a whole number >= 1")
    if args.url:
        result = run(args.url, junit=args.report, max_examples=args.max_examples, seed=args.seed)
    else:
        with start(0, inject_latency_ms={}, inject_error_pct={}) as gateway:
            result = run(
                gateway.url, junit=args.report, max_examples=args.max_examples, seed=args.seed
            )
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
