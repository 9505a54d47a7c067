"""The fast engine against the reference engine (the factored dense forward): jets/s for
inference and training on the embedded default's jets (synthetic, ~19 real tracks) and on
generated jets with 30 real tracks, with each engine's peak RSS; and the peak RSS of
``fairhep evaluate`` at small and huge ``--batch-size``.

Run with ``make benchmark`` (``FAIRHEP_BENCH_THREADS=N`` sets torch's threads). Each
workload runs in its own process, which alternates timed rounds of the two engines, so that
their ratio is measured under the same machine load (the development machines are shared);
each engine's peak RSS is that of a process that ran only it, once. Targets of issue 12
(2 CPU cores) are recorded beside the figures with whether they were met, not asserted: a
busy shared node is not a failure. Figures: ``extra_info`` in ``results/benchmarks.json``,
and a summary in ``results/engine-benchmark.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.benchmark_suite

SUMMARY = Path("results") / "engine-benchmark.json"
TARGETS = {
    "inference-30": ("fast_jets_per_s", 6000.0),
    "inference-default": ("ratio", 10.0),
    "training-default": ("ratio", 5.0),
    # Recorded, but out of reach exactly: at 30 real tracks the engine still evaluates ~1,030
    # (exact groups) to ~1,290 (training bucket 32) edge-MLP rows per jet against 3,840.
    "training-30": ("ratio", 5.0),
    "evaluate-rss": ("peak_rss_mb", 1024.0),
}
ROUNDS = 3
N_JETS = {"inference": 2048, "training": 1024}
REFERENCE_BATCH = {"inference": 256, "training": 128}  # the measurement; the recipe
FAST_BATCH = {"inference": 2048, "training": 128}
_results: dict[str, dict[str, Any]] = {}


# ---- the worker (a separate process per workload) --------------------------------------------

def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _jets(kind: str, n: int) -> tuple[Any, Any, Any]:
    import tempfile

    import torch

    from fairhep.bench.datasource import TEST_SEED_OFFSET, settings
    from fairhep.bench.options import BenchOptions
    from fairhep.data.load import load_dataset
    from fairhep.data.synth import synthesize

    chosen = settings(BenchOptions())
    with tempfile.TemporaryDirectory() as tmp:
        # The embedded default's test jets: same generator, seed stream and difficulty.
        synthesize(Path(tmp), 1, n, 0 + TEST_SEED_OFFSET, chosen.difficulty, split="test")
        jets = load_dataset(Path(tmp))
    tracks, svs = torch.from_numpy(jets.tracks), torch.from_numpy(jets.svs)
    if kind == "30":  # generated: 30 real tracks, the SVs of the synthetic jets
        g = torch.Generator().manual_seed(30)
        tracks = torch.zeros_like(tracks)
        tracks[:, :, :30] = torch.randn(n, 30, 30, generator=g)
    return tracks, svs, torch.from_numpy(jets.labels)


def _worker(mode: str, kind: str, engines: list[str], rounds: int) -> dict[str, Any]:
    import torch

    from fairhep.hostmem import retain_freed_memory
    from fairhep.model import InteractionNetwork
    from fairhep.model.fast import make_forward

    retain_freed_memory()
    n = N_JETS[mode]
    tracks, svs, labels = _jets(kind, n)
    torch.manual_seed(0)
    net = InteractionNetwork()
    seconds: dict[str, list[float]] = {e: [] for e in engines}
    for r in range(rounds + 1):  # round 0 warms up (not timed)
        for engine in engines:
            batch = FAST_BATCH[mode] if engine == "fast" else REFERENCE_BATCH[mode]
            t0 = time.perf_counter()
            if mode == "inference":
                net.eval()
                forward = make_forward(engine, net)
                with torch.inference_mode():
                    for i in range(0, n, batch):
                        forward(tracks[i:i + batch], svs[i:i + batch])
            else:
                net.train()
                forward = make_forward(engine, net, training=True)
                opt = torch.optim.Adam(net.parameters(), lr=1e-4)
                for i in range(0, n, batch):
                    loss = torch.nn.functional.cross_entropy(
                        forward(tracks[i:i + batch], svs[i:i + batch]), labels[i:i + batch])
                    opt.zero_grad(set_to_none=True)
                    torch.autograd.backward(loss)
                    opt.step()
            if r:
                seconds[engine].append(time.perf_counter() - t0)
    out: dict[str, Any] = {f"{e}_jets_per_s": n / sorted(s)[len(s) // 2]
                           for e, s in seconds.items()}
    out["peak_rss_mb"] = _rss_mb()  # of this process: one engine's when it ran alone
    out["threads"] = torch.get_num_threads()
    return out


def _evaluate_worker(engine: str, batch_size: int, data: str, run: str, max_jets: int
                     ) -> dict[str, Any]:
    from fairhep.cli import main

    t0 = time.perf_counter()
    # The record goes beside the data (a temporary folder), never into ./results.
    rc = main(["evaluate", "--run", run, "--data", data, "--device", "cpu", "--engine", engine,
               "--batch-size", str(batch_size), "--max-jets", str(max_jets), "--json",
               "--results", str(Path(data).parent / "results")])
    return {"rc": rc, "engine": engine, "batch_size": batch_size, "max_jets": max_jets,
            "peak_rss_mb": _rss_mb(), "wall_s": time.perf_counter() - t0}


def _run_worker(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         check=False, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                             [str(Path(__file__).parents[2] / "suite"),
                              os.environ.get("PYTHONPATH", "")])})
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _record(benchmark: Any, name: str, result: dict[str, Any]) -> None:
    key, target = TARGETS.get(name, ("", None))
    if target is not None:
        value = float(result[key])
        result["target"] = {key: target, "met": value <= target if "rss" in key
                            else value >= target}
    result["load_before"] = _results.get("_load", {}).get("now", _load())
    result["load_after"] = _load()
    _results[name] = result
    benchmark.extra_info.update(result)
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps({k: v for k, v in _results.items() if k != "_load"},
                                  indent=2) + "\n")


# ---- the benchmarks ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["default", "30"])
@pytest.mark.parametrize("mode", ["inference", "training"])
def test_engine_vs_reference(benchmark, mode, kind):
    _results["_load"] = {"now": _load()}
    result: dict[str, Any] = {}

    def run() -> None:
        both = _run_worker("worker", mode, kind, "fast,reference", str(ROUNDS))
        result.update(mode=mode, jets=kind, n_jets=N_JETS[mode], rounds=ROUNDS,
                      threads=both["threads"], fast_jets_per_s=both["fast_jets_per_s"],
                      reference_jets_per_s=both["reference_jets_per_s"],
                      ratio=both["fast_jets_per_s"] / both["reference_jets_per_s"],
                      fast_batch=FAST_BATCH[mode], reference_batch=REFERENCE_BATCH[mode])
        for engine in ("fast", "reference"):
            alone = _run_worker("worker", mode, kind, engine, "1")
            result[f"{engine}_peak_rss_mb"] = alone["peak_rss_mb"]

    benchmark.pedantic(run, rounds=1, iterations=1)
    _record(benchmark, f"{mode}-{kind}", result)
    assert result["fast_jets_per_s"] > 0 and result["reference_jets_per_s"] > 0


def test_evaluate_peak_rss_at_any_batch_size(benchmark, tmp_path):
    from fairhep.data.synth import synthesize
    from run_helpers import make_run

    data, run = tmp_path / "data", tmp_path / "run"
    synthesize(data, files=1, jets_per_file=20_000, seed=5, split="test")
    make_run(run)
    result: dict[str, Any] = {}

    def measure() -> None:
        runs = [("fast", 1024, 20_000), ("fast", 100_000, 20_000), ("reference", 1024, 1024)]
        result["runs"] = [_run_worker("evaluate", e, str(b), str(data), str(run), str(m))
                          for e, b, m in runs]

    benchmark.pedantic(measure, rounds=1, iterations=1)
    fast = [r for r in result["runs"] if r["engine"] == "fast"]
    result["peak_rss_mb"] = max(r["peak_rss_mb"] for r in fast)
    _record(benchmark, "evaluate-rss", result)
    assert all(r["rc"] == 0 for r in result["runs"])


if __name__ == "__main__":
    if os.environ.get("FAIRHEP_BENCH_THREADS"):
        import torch

        torch.set_num_threads(int(os.environ["FAIRHEP_BENCH_THREADS"]))
    if sys.argv[1] == "worker":
        print(json.dumps(_worker(sys.argv[2], sys.argv[3], sys.argv[4].split(","),
                                 int(sys.argv[5]))))
    else:
        print(json.dumps(_evaluate_worker(sys.argv[2], int(sys.argv[3]), sys.argv[4],
                                          sys.argv[5], int(sys.argv[6]))))
