"""How the suite is run: the default run is short, CI's second stage deep."""

from __future__ import annotations

import shlex

from hypothesis import settings

from .conftest import ROOT, examples


def test_properties_try_a_quarter_of_their_examples_unless_deep() -> None:
    current = settings.get_current_profile_name()
    try:
        settings.load_profile("default")
        assert [examples(n) for n in (400, 60, 12, 3)] == [100, 15, 5, 3]
        settings.load_profile("deep")
        assert [examples(n) for n in (400, 60, 12, 3)] == [400, 60, 12, 3]
    finally:
        settings.load_profile(current)


def test_ci_runs_the_slow_tests_and_every_example_of_the_properties() -> None:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [shlex.split(line.split("&&")[-1]) for line in lines if "-m pytest" in line]
    deep = [c for c in commands if c[:3] == ["python", "-m", "pytest"] and "--hypothesis-profile=deep" in c]
    assert deep and deep[0][deep[0].index("-m", 3) + 1] == "slow or properties", deep
