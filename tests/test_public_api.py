import kernel_async
import kernel_async.testing


def test_all_is_sorted_and_complete() -> None:
    for module in (kernel_async, kernel_async.testing):
        names = module.__all__
        # isort-style, as ruff's RUF022 keeps it: CONSTANTS, then Classes, then functions.
        assert list(names) == sorted(
            names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)
        )
        assert len(set(names)) == len(names)
        for name in names:
            assert hasattr(module, name), name
        public = {n for n in vars(module) if n[0] not in "_@" and n not in names}
        assert public <= {"testing", "pytest_plugin"}, public


def test_every_error_derives_from_kernel_error() -> None:
    errors = [getattr(kernel_async, n) for n in kernel_async.__all__ if n.endswith("Error")]
    assert len(errors) == 20
    assert all(issubclass(e, kernel_async.KernelError) for e in errors)
    assert issubclass(kernel_async.APITimeoutError, kernel_async.APIConnectionError)
    assert issubclass(kernel_async.NotFoundError, kernel_async.APIStatusError)


def test_the_package_is_typed() -> None:
    from importlib.resources import files

    assert files("kernel_async").joinpath("py.typed").is_file()


def test_each_public_name_is_loaded_from_one_module() -> None:
    homes = [name for names in kernel_async._HOMES.values() for name in names]
    assert sorted(homes) == sorted(set(kernel_async.__all__) - {"__version__"})
    for home, names in kernel_async._HOMES.items():
        module = __import__(f"kernel_async.{home}", fromlist=["_"])
        assert all(name in vars(module) for name in names), home
