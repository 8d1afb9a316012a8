"""``typing.get_type_hints`` resolves on the public API at run time.

Runtime checkers call it on what users hand them (beartype, typeguard, pydantic's
``validate_call``, ``attrs.resolve_types``, FastAPI's dependency introspection): a name that
is imported only for type checkers makes it raise ``NameError``. Each package is walked in a
fresh interpreter that has done nothing but import it, so no other test's imports can make a
name resolvable by accident.
"""

import json
import subprocess
import sys

import pytest

# Every class and function of ``__all__``, and every function, property, staticmethod and
# classmethod a public class defines (private helpers included: checkers see them too).
# Constants and type aliases are skipped: get_type_hints rejects them by design.
WALK = """
import inspect, json, sys, typing
import {package} as package

checked, failures = [], []

def check(label, obj):
    checked.append(label)
    try:
        typing.get_type_hints(obj)
    except Exception as exc:
        failures.append(f"{{label}}: {{type(exc).__name__}}: {{exc}}")

for name in package.__all__:
    obj = getattr(package, name)
    if inspect.isclass(obj):
        check(name, obj)
        for attr, member in vars(obj).items():
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                for part in ("fget", "fset", "fdel"):
                    if getattr(member, part) is not None:
                        check(f"{{name}}.{{attr}}.{{part}}", getattr(member, part))
            elif inspect.isfunction(member):
                check(f"{{name}}.{{attr}}", member)
    elif inspect.isfunction(obj):
        check(name, obj)
print(json.dumps({{"checked": checked, "failures": failures}}))
"""


def walk(package: str) -> tuple[list[str], list[str]]:
    """What a fresh interpreter checked in ``package``, and what failed to resolve."""
    result = subprocess.run(
        [sys.executable, "-c", WALK.format(package=package)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found = json.loads(result.stdout.splitlines()[-1])
    return found["checked"], found["failures"]


@pytest.mark.parametrize(
    ("package", "expected"),
    [
        # A few of what the walk must reach: errors, the resource, the listing, a property.
        (
            "kernel_async",
            {
                "APIStatusError.__init__",
                "APIStatusError.details.fget",
                "NotFoundError",
                "InvocationListing.__await__",
                "Invocations._watch_client",
                "Invocations._page_fetcher",
            },
        ),
        ("kernel_async.testing", {"KernelEmulator.__init__", "make_invocation"}),
    ],
)
def test_every_public_hint_resolves_in_a_fresh_interpreter(
    package: str, expected: set[str]
) -> None:
    checked, failures = walk(package)
    assert expected <= set(checked)
    assert not failures, "hints that do not resolve:\n" + "\n".join(failures)
