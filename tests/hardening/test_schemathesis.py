"""Hostile input over HTTP: schemathesis generates requests from the app's own OpenAPI
document (schema-valid and schema-violating), with an all-scope token and without, and
every answer must be a documented status, content type and body, never a 5xx."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import schemathesis
from conftest import Instance
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import MakeApp

# Not `positive_data_acceptance`: the service checks more than JSON Schema can say (Persian
# script, the national id's check digit, Solar Hijri dates), and refuses such input with 422.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
EXAMPLES = 20  # per operation, generation mode and token; about 1,150 cases in all
MIN_CASES = 1000


def explore(
    strategy: Any, headers: dict[str, str] | None, label: str, failures: dict[str, str]
) -> int:
    """Run up to EXAMPLES generated cases; note the first failure under `label`."""
    count = 0

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        nonlocal count
        count += 1
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except BaseException as exc:  # schemathesis raises an ExceptionGroup
            failures.setdefault(label, str(exc)[:2000])

    run()
    return count


def test_generated_requests_never_break_the_api(hardened: Instance, make_app: MakeApp) -> None:
    app = make_app(rate_limit=0)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tokens: list[dict[str, str] | None] = [None, hardened.auth("all")]
    failures: dict[str, str] = {}
    cases = 0
    operations = 0
    start = time.perf_counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for headers in tokens:
                label = f"{operation.label} {mode.value} token={headers is not None}"
                # Unsatisfiable: nothing in this operation can be made schema-violating.
                with contextlib.suppress(Unsatisfiable):
                    strategy = operation.as_strategy(generation_mode=mode)
                    cases += explore(strategy, headers, label, failures)
    elapsed = time.perf_counter() - start
    print(f"\nschemathesis: {cases} cases over {operations} operations in {elapsed:.1f} s")
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    assert operations >= 20
    assert cases >= MIN_CASES
