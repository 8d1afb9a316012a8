import copy
import pickle
import weakref
from datetime import UTC, datetime

import attrs
import pytest

from kernel_async import APIResponseValidationError, Invocation, InvocationStatus
from kernel_async._convert import decode_invocations


def make(**overrides: object) -> Invocation:
    wire: dict[str, object] = {
        "id": "inv1",
        "app_name": "app",
        "version": "1",
        "action_name": "act",
        "started_at": "2025-06-01T12:34:56.100000001Z",
        "finished_at": "2025-06-01T12:34:58.350000002+00:00",
        "status": "failed",
        **overrides,
    }
    (invocation,) = decode_invocations([wire])
    return invocation


def test_models_are_frozen_and_slotted() -> None:
    invocation = make()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        invocation.id = "other"  # type: ignore[misc]
    assert not hasattr(invocation, "__dict__")


def test_a_decoded_invocation_is_an_invocation_like_one_built_by_hand() -> None:
    # The decoder builds its storage and assigns the class (see UncheckedInvocation).
    decoded = make(payload='{"a": 1}', output="done", status_reason="ok")
    built = Invocation(
        id="inv1",
        app_name="app",
        version="1",
        action_name="act",
        started_at=decoded.started_at,
        finished_at=decoded.finished_at,
        status=InvocationStatus.FAILED,
        payload='{"a": 1}',
        output="done",
        status_reason="ok",
    )
    assert type(decoded) is Invocation
    assert decoded == built
    assert hash(decoded) == hash(built)
    assert repr(decoded) == repr(built)
    assert attrs.evolve(decoded, id="inv2").id == "inv2"
    assert pickle.loads(pickle.dumps(decoded)) == decoded
    assert copy.copy(decoded) == decoded
    assert weakref.ref(decoded)() is decoded
    assert decoded.started_at_ns == 1_748_781_296_100_000_001  # the raw text is kept


def test_exact_nanoseconds_and_duration() -> None:
    invocation = make()
    assert invocation.started_at_ns == 1_748_781_296_100_000_001
    assert invocation.finished_at_ns == 1_748_781_298_350_000_002
    assert invocation.duration == pytest.approx(2.250000001, abs=1e-9)
    assert make(finished_at=None).duration is None
    assert make(finished_at=None).finished_at_ns is None


def test_hand_built_invocations_derive_nanoseconds_from_the_datetime() -> None:
    started = datetime(2025, 6, 1, 12, 34, 56, 250, tzinfo=UTC)
    invocation = Invocation(
        id="x", app_name="a", version="1", action_name="b", started_at=started, status="queued"
    )
    assert invocation.started_at_ns == 1_748_781_296_000_250_000
    assert invocation.finished_at_ns is None


def test_equality_ignores_the_wire_spelling_of_a_timestamp() -> None:
    assert make(finished_at="2025-06-01T12:34:58.350000002Z") == make()


def test_payload_json_parses_on_demand() -> None:
    assert make(payload='{"data":"example input"}').payload_json() == {"data": "example input"}
    assert make().payload_json() is None
    with pytest.raises(APIResponseValidationError, match="payload is not valid JSON") as caught:
        make(payload="{not json").payload_json()
    assert caught.value.path == "$.payload"


def test_output_json_falls_back_to_plain_text_for_failures() -> None:
    assert make(output='{"result":"success"}').output_json() == {"result": "success"}
    assert make(output='{"result":"success"}').output_is_json
    assert make(output='"just a string"').output_json() == "just a string"
    assert make(output="null").output_json() is None
    assert make(output="null").output_is_json
    text = "timeout: page did not finish loading"
    assert make(output=text).output_json() == text
    assert not make(output=text).output_is_json
    assert make().output_json() is None
    assert not make().output_is_json


def test_output_is_kept_out_of_the_repr() -> None:
    # The API says output "may contain sensitive application data".
    assert "s3cr3t" not in repr(make(output='{"password":"s3cr3t"}'))


def test_to_dict_round_trips_the_wire_form() -> None:
    wire = {
        "id": "inv1",
        "app_name": "app",
        "version": "1",
        "action_name": "act",
        "status": "cancelled",
        "started_at": "2025-06-01T12:34:56.100000001Z",
        "finished_at": None,
        "payload": "{}",
    }
    invocation = make(**wire)
    assert invocation.to_dict() == wire
    assert decode_invocations([invocation.to_dict()]) == (invocation,)


def test_status_compares_with_plain_strings() -> None:
    assert make().status == "failed"
    assert make().status is InvocationStatus.FAILED


def _package_imports(module: str) -> set[str]:
    """Every kernel_async module a module imports, at the top, in functions or for typing."""
    import ast
    from pathlib import Path

    import kernel_async

    source = Path(kernel_async.__file__).parent.joinpath(f"{module}.py").read_text()
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kernel_async"):
            found.add(node.module or "")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("kernel_async"))
    return found


def test_models_errors_and_the_converter_import_one_way() -> None:
    # The header helper and the models an error carries at the bottom; _errors on them; the
    # models above it; the converter, built from the models, above them. No import back, not
    # even inside a function or for type checking.
    assert _package_imports("_headers") == set()
    assert _package_imports("_error_models") == {"kernel_async._headers"}
    assert _package_imports("_errors") == {"kernel_async._headers", "kernel_async._error_models"}
    assert "kernel_async._convert" not in _package_imports("_models")
    assert "kernel_async._errors" in _package_imports("_models")
    assert {"kernel_async._models", "kernel_async._errors"} <= _package_imports("_convert")


def test_from_dict_needs_no_import_of_the_converter_by_the_caller() -> None:
    import subprocess
    import sys

    script = (
        "from kernel_async._models import Invocation\n"
        "print(Invocation.from_dict({'id': 'a', 'app_name': 'x', 'version': '1',"
        " 'action_name': 'y', 'started_at': '2025-06-01T00:00:00Z', 'status': 'queued'}).id)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "a"
