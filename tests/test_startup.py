"""Start-up: what a fresh process imports, for the command line and for the package.

Which modules load, not how long they take (no test here is timed): ``--help`` answers
without aiohttp, asyncio or the client, and cattrs loads only once a response fails
validation. ``python bench/startup.py`` measures the time.

Two small modules load eagerly on purpose, because public annotations name their classes and
``typing.get_type_hints()`` must resolve those at run time (tests/test_type_hints.py):
``_error_models`` with ``_errors`` (``APIStatusError.body`` is an ``ErrorBody``), so with the
package itself, and ``_pages`` with the client (``InvocationListing.__await__`` returns an
``AsyncInvocationPage``). The watch still loads when first used.
"""

import importlib.util
import json
import subprocess
import sys

import pytest

HEAVY = ("aiohttp", "asyncio", "cattrs", "kernel_async._client", "kernel_async.testing", "msgspec")


def modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["invocations", "--help"], ["invocations", "list", "--help"], ["--version"]],
)
def test_help_imports_neither_aiohttp_nor_the_client(argv: list[str]) -> None:
    modules = modules_after(
        "import contextlib, io\n"
        "from kernel_async._cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({argv!r})"
    )
    assert [name for name in HEAVY if loaded(modules, name)] == []


def test_a_usage_error_imports_neither_aiohttp_nor_the_client() -> None:
    modules = modules_after(
        "import contextlib, io\n"
        "from kernel_async._cli import main\n"
        "with contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['invocations', 'list', '--limit', 'many'])"
    )
    assert [name for name in HEAVY if loaded(modules, name)] == []


def test_the_client_loads_without_cattrs() -> None:
    modules = modules_after("from kernel_async import AsyncKernel, Invocation")
    assert loaded(modules, "aiohttp")
    assert not loaded(modules, "cattrs")


WATCH = (
    "kernel_async._watch",
    "kernel_async._watch_ask",
    "kernel_async._watch_params",
    "kernel_async._watch_poll",
    "kernel_async._watch_state",
)


def test_the_page_decoder_loads_with_the_client_not_with_the_package() -> None:
    # msgspec (the `fast` extra) decodes every page: the client loads it, so that no walk
    # waits for it; `import kernel_async` and the command line's help do not.
    installed = importlib.util.find_spec("msgspec") is not None
    assert loaded(modules_after("from kernel_async import AsyncKernel"), "msgspec") == installed
    assert not loaded(modules_after("import kernel_async"), "msgspec")
    blocked = modules_after(
        "import sys\n"
        "sys.modules['msgspec'] = None  # as if not installed: the client loads all the same\n"
        "from kernel_async import AsyncKernel"
    )
    assert loaded(blocked, "kernel_async._client")


def test_the_client_loads_without_the_watch() -> None:
    modules = modules_after("from kernel_async import AsyncKernel")
    assert loaded(modules, "kernel_async._invocations")
    assert [name for name in WATCH if loaded(modules, name)] == []


def test_the_official_page_api_loads_with_the_listing() -> None:
    # Eager on purpose (see the module docs): the listing's annotations name its page.
    modules = modules_after("from kernel_async import InvocationListing")
    assert loaded(modules, "kernel_async._pages")
    assert not loaded(modules, "cattrs")


def test_the_models_of_a_failed_call_load_with_the_errors() -> None:
    # Eager on purpose (see the module docs): the errors' annotations name the models.
    modules = modules_after("from kernel_async import KernelError")
    assert loaded(modules, "kernel_async._error_models")
    assert [name for name in HEAVY if loaded(modules, name)] == []
    body = b'{"code": "not_found", "message": "no such invocation"}'
    # The script fails (and modules_after raises) unless the error carries its models.
    failed = modules_after(
        "from kernel_async import NotFoundError\n"
        "from kernel_async._protocol import interpret_page_response\n"
        "try:\n"
        f"    interpret_page_response(404, {{}}, {body!r}, offset=0)\n"
        "except NotFoundError as exc:\n"
        "    assert (exc.code, exc.response.status_code) == ('not_found', 404), exc\n"
        "else:\n"
        "    raise AssertionError('no error')"
    )
    assert loaded(failed, "kernel_async._error_models")


def test_the_watch_loads_when_first_used() -> None:
    modules = modules_after(
        "from kernel_async import AsyncKernel\n"
        "client = AsyncKernel('key', base_url='http://127.0.0.1:9/')\n"
        "client.invocations.watch(app_name='bot')"
    )
    assert [name for name in WATCH if loaded(modules, name)] == list(WATCH)


def test_a_public_name_loads_the_module_that_defines_it() -> None:
    modules = modules_after("from kernel_async import InvocationEvent")
    assert loaded(modules, "kernel_async._watch_state")
    assert not loaded(modules, "kernel_async._client")


def test_cattrs_loads_when_a_response_fails_validation_and_names_the_path() -> None:
    modules = modules_after(
        "from kernel_async import APIResponseValidationError, Invocation\n"
        "try:\n"
        "    Invocation.from_dict({'id': 'a', 'app_name': 1})\n"
        "except APIResponseValidationError as exc:\n"
        "    assert exc.path == '$.app_name', exc.path\n"
        "else:\n"
        "    raise AssertionError('accepted')"
    )
    assert loaded(modules, "cattrs")


def test_the_package_loads_its_names_on_first_use() -> None:
    modules = modules_after("import kernel_async")
    assert not loaded(modules, "aiohttp")
    modules = modules_after("import kernel_async\nassert kernel_async.AsyncKernel.__name__")
    assert loaded(modules, "kernel_async._client")
