"""Suite-wide setup."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def triangulation_kernels():
    """Compile (first run after an install, ~27 s) or load the triangulation kernels once, before
    any test: no test then sees the one-off compile in its timing or the commands' notice in its
    output."""
    from geometry import compile_kernels

    compile_kernels()
