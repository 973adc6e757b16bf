"""Suite-wide setup."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def triangulation_kernels():
    """Compile (first run after an install, ~27 s) or load the triangulation kernels once, before
    any test: no test then sees the one-off compile in its timing or the commands' notice in its
    output."""
    from geometry import compile_kernels

    compile_kernels()


@pytest.fixture
def refusal(tmp_path):
    """``refusal(load, text)``: the message of the ValueError with which ``load(path)`` refuses
    a file ``bad.toml`` holding ``text`` (fails the test when it is accepted)."""

    def refuse(load, text: str) -> str:
        path = tmp_path / "bad.toml"
        path.write_text(text)
        with pytest.raises(ValueError) as info:
            load(path)
        return str(info.value)

    return refuse
