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
