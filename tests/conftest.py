import pytest

pytest_plugins = ["tests.integration.s3server", "tests.k8s.fixtures"]


@pytest.fixture
def cold_compiler():
    """The compiler's caches emptied: the test sees the compiler build, not what an earlier test left cached
    (so it passes alone as in any order, and it fails when the building is wrong)."""
    from mlcd.compiler import compile as compile_module

    for cached in (compile_module._structure, compile_module._structure_digest, compile_module._compile_cached,
                   compile_module._drift_check_structure):
        cached.cache_clear()


# Figures a test measures (counts, sizes, memory), shown at the end of a run under "figures": pytest would
# show a passed test's print only with -s. They travel as user properties, which pytest-xdist sends back
# with each report, so the controller's summary has the workers' figures too.
FIGURE = "figure"
_figures: list[tuple[str, str]] = []


@pytest.fixture
def figures(record_property):
    """figures(line): a line for the "figures" section of the run's summary."""
    return lambda line: record_property(FIGURE, line)


def pytest_runtest_logreport(report):
    if report.when == "call":
        _figures.extend((report.nodeid, value) for name, value in report.user_properties if name == FIGURE)


def pytest_terminal_summary(terminalreporter):
    if _figures:
        terminalreporter.section("figures")
        for nodeid, line in _figures:
            terminalreporter.write_line(f"{nodeid}: {line}")
