"""The embedded default names its generator: in the settings, the cache key and the record."""

from __future__ import annotations

import pytest

from fairhep.bench.datasource import ENV_DEFAULTS, settings
from fairhep.bench.options import BenchOptions
from fairhep.data.synth_options import DEFAULT_GENERATOR, GENERATORS
from fairhep.errors import ConfigError


def test_the_default_generator_is_filled_in_and_a_choice_is_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_DEFAULTS, raising=False)
    # v2 since it met issue 26's realism bar (published baseline AUC 0.961 >= 0.95).
    assert settings(BenchOptions()).generator == DEFAULT_GENERATOR == "v2"
    for g in GENERATORS:
        assert settings(BenchOptions(defaults={"generator": g})).generator == g
        assert settings(BenchOptions(defaults={"generator": g})).as_dict()["generator"] == g


def test_an_unknown_generator_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_DEFAULTS, '{"generator": "v9"}')
    with pytest.raises(ConfigError, match=r"generator 'v9' is not one of \['v1', 'v2'\]"):
        settings(BenchOptions())
