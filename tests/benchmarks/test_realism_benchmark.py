"""Realism of the generators as the published baseline (trained on real CMS jets) sees them
(issue 26): its AUC on each generator's test jets goes into ``extra_info``. The baseline is an
instrument; the generators' numbers come from physics (fairhep.data.jetphysics), never from
this score. Run with ``make benchmark``."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairhep.bench.datasource import TEST_SEED_OFFSET
from fairhep.data.synth import synthesize
from fairhep.errors import ConfigError
from fairhep.xai import realism

pytestmark = pytest.mark.benchmark_suite


@pytest.mark.parametrize("generator", ["v1", "v2"])
def test_published_baseline_auc(benchmark, tmp_path: Path, generator: str) -> None:
    try:
        net, name = realism.load_instrument()
    except ConfigError as exc:
        pytest.skip(str(exc))
    data = tmp_path / "test"
    # The embedded default's test jets: seed 0 + its offset, 4000 jets, test split.
    synthesize(data, 1, 4000, TEST_SEED_OFFSET, split="test", generator=generator)
    result = benchmark.pedantic(
        lambda: realism.realism_study(net, data, name, max_jets=4000), rounds=1)
    benchmark.extra_info["auc"] = result.auc
    benchmark.extra_info["generator"] = generator
    benchmark.extra_info["disagreeing"] = [
        f.feature for f in result.features if max(f.delta_shuffled, f.delta_mean) > 0.005]
