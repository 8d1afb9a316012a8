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
# classmethod a public class defines or inherits from the package's classes (private helpers
# included: checkers see them too).
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
        # What the class defines and what it inherits from the package's own classes.
        members = {{}}
        for base in reversed(obj.__mro__):
            if base.__module__.startswith("kernel_async"):
                members.update(vars(base))
        for attr, member in members.items():
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


# The watch's entry points name its classes, which load when a watch is first made (start-up
# time, see test_startup.py): their hints resolve with the watch's names, as the CHANGELOG
# says: ``typing.get_type_hints(Invocations.watch, localns=vars(kernel_async._watch))``.
WATCH_ENTRY_POINTS = {"Invocations.watch", "Invocations.failures", "Invocations._watch"}


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
    unexpected = [f for f in failures if f.partition(":")[0] not in WATCH_ENTRY_POINTS]
    assert not unexpected, "hints that do not resolve:\n" + "\n".join(unexpected)
    if package == "kernel_async":  # exactly those, and no more
        assert {f.partition(":")[0] for f in failures} == WATCH_ENTRY_POINTS


def test_the_watch_entry_points_resolve_with_the_watchs_names() -> None:
    script = (
        "import typing, kernel_async, kernel_async._watch as watch\n"
        "for method in ('watch', 'failures', '_watch'):\n"
        "    typing.get_type_hints(getattr(kernel_async.Invocations, method), "
        "localns=vars(watch))\n"
        "print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "ok"
