"""Scaling: one training over several GPUs and nodes (the campaign's ``[scaling]`` study,
``train.scaling`` records) and many trainings at once (the campaign's array of ``train``
records, counted as MLPerf HPC counts throughput: models trained per hour at that scale).

Speed-up is the one-rank run's throughput ratio: jets/s at W ranks over jets/s at 1, on the
same platform, mode and model. Strong scaling keeps the global batch, so it is also the
ratio of epoch times; weak scaling keeps each rank's batch (the global batch grows), and an
epoch is still one pass over the same data. Parallel efficiency is speed-up / W.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from fairhep.plots.scaling import ScalingPoint, ScalingSeries, scaling_figure
from fairhep.report.context import Context
from fairhep.report.grouping import model_label, platform_sort
from fairhep.report.recordset import Record
from fairhep.report.section import Row, Section, Table, row
from fairhep.results import kinds

ID = "scaling"
HEADERS = ("Platform", "Model", "Mode", "Ranks", "Nodes", "Backend", "Global batch",
           "Batch/rank", "s/epoch", "jets/s", "Speed-up", "Efficiency", "Runs")
THROUGHPUT_HEADERS = ("Platform", "Trainings", "At once", "GPUs each", "Span h",
                      "Models/hour", "Mean time-to-train min")
NONE = "–"
Key = tuple[str, str, str]  # platform, model, mode


def _world(r: Record) -> int:
    return int(r.config.get("world_size") or 1)


def _points(recs: Sequence[Record]) -> dict[Key, dict[int, list[Record]]]:
    """Records by series (platform, model, mode), then by world size."""
    out: dict[Key, dict[int, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for r in recs:
        if r.record.status == "ok":
            out[(r.platform, model_label(r), str(r.config.get("mode")))][_world(r)].append(r)
    return out


def _mean(recs: Sequence[Record], metric: str) -> float:
    return statistics.fmean(float(r.metrics[metric]) for r in recs)


def _series(key: Key, by_size: dict[int, list[Record]]) -> tuple[list[Row], ScalingSeries]:
    one = by_size.get(1)
    base = _mean(one, "jets_per_s") if one else None
    rows, points = [], []
    for w in sorted(by_size):
        recs = by_size[w]
        rate, per_epoch = _mean(recs, "jets_per_s"), _mean(recs, "train_s_per_epoch")
        speedup = rate / base if base else None
        eff = speedup / w if speedup is not None else None
        c = recs[0].config
        nodes = int(c.get("nodes") or 1)
        cells = (key[0], key[1], key[2], str(w), str(nodes), str(c.get("backend") or NONE),
                 str(c.get("global_batch")), str(c.get("batch_per_rank")), f"{per_epoch:.3g}",
                 f"{rate:,.0f}", NONE if speedup is None else f"{speedup:.2f}",
                 NONE if eff is None else f"{eff:.0%}", str(len(recs)))
        values = {"s_per_epoch": per_epoch, "jets_per_s": rate}
        if speedup is not None and eff is not None:
            values.update(speedup=speedup, efficiency=eff)
        rows.append(row(HEADERS, cells, None if one else "no one-rank run",
                        missing=None if one else f"no one-rank run of {key[2]} scaling on "
                        f"{key[0]}: speed-up needs it", values=values))
        points.append(ScalingPoint(w, nodes, per_epoch, rate, speedup, eff))
    return rows, ScalingSeries(f"{key[0]}, {key[2]}", points)


def _when(r: Record) -> datetime | None:
    try:
        return datetime.strptime(r.record.created, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return None


def _duration_s(r: Record) -> float | None:
    t = r.timings
    value = t.get("wall_s_this_invocation") or t.get("total_s")
    return float(value) if value else None


def throughput_rows(recs: Sequence[Record]) -> list[Row]:
    """MLPerf-HPC-style throughput of each platform's campaign trainings (``train`` records
    a task wrote): M trainings over the span from the first start to the last end, the most
    that ran at once, models per hour. Ad-hoc trainings are no array and are left out."""
    spans: dict[str, list[tuple[float, float, Record]]] = defaultdict(list)
    for r in recs:
        end, took = _when(r), _duration_s(r)
        if r.record.status != "ok" or not r.record.task_id or end is None or took is None:
            continue
        stop = end.timestamp()
        spans[r.platform].append((stop - took, stop, r))
    rows = []
    for platform in sorted(spans, key=platform_sort):
        runs = spans[platform]
        first, last = min(s for s, _, _ in runs), max(e for _, e, _ in runs)
        hours = (last - first) / 3600
        # The most trainings running at one moment: a sweep over starts and ends.
        events = sorted([(s, 1) for s, _, _ in runs] + [(e, -1) for _, e, _ in runs])
        at_once = running = 0
        for _, step in events:
            running += step
            at_once = max(at_once, running)
        gpus = {int((r.config.get("distributed") or {}).get("world_size") or 1)
                for _, _, r in runs}
        per_hour = len(runs) / hours if hours > 0 else None
        ttt = statistics.fmean(e - s for s, e, _ in runs) / 60
        rows.append(row(THROUGHPUT_HEADERS, (
            platform, str(len(runs)), str(at_once), "/".join(map(str, sorted(gpus))),
            f"{hours:.3g}", NONE if per_hour is None else f"{per_hour:.3g}", f"{ttt:.3g}"),
            values={"trainings": len(runs), "at_once": at_once, "span_h": hours,
                    "time_to_train_min": ttt,
                    **({} if per_hour is None else {"models_per_hour": per_hour})}))
    return rows


def build(ctx: Context) -> Section:
    series = _points(ctx.records.of(kinds.TRAIN_SCALING))
    rows: list[Row] = []
    drawn: list[ScalingSeries] = []
    for key in sorted(series, key=lambda k: (platform_sort(k[0]), k[1], k[2])):
        got, line = _series(key, series[key])
        rows += got
        drawn.append(line)
    figures = (scaling_figure(ctx.fig_dir, "scaling", "Training throughput against ranks",
                              drawn),) if drawn else ()
    throughput = throughput_rows(ctx.records.of(kinds.TRAIN))
    return Section(
        ID,
        "Scaling: one training on many ranks, many trainings at once",
        "The campaign's `[scaling]` study (`fairhep train --distributed`, one rank per GPU, "
        "or CPU tasks with gloo): time per epoch (the first epoch, which pays for start-up, "
        "left out where there are more) and training jets/s against ranks and nodes, with "
        "speed-up (jets/s over the one-rank run's) and parallel efficiency (speed-up / ranks)"
        " per platform. Strong scaling keeps the global batch; weak scaling keeps each "
        "rank's batch. Throughput counts a campaign's array of trainings as MLPerf HPC does: "
        "models trained per hour over the span from the first start to the last end, with "
        "the most that ran at once.",
        tables=(
            Table(ID, HEADERS, tuple(rows), not_run="" if rows else
                  "no train.scaling records (a campaign with a [scaling] section: "
                  "`fairhep submit --site local --campaign scaling-smoke`)"),
            Table("throughput", THROUGHPUT_HEADERS, tuple(throughput),
                  caption="MLPerf-HPC-style throughput of the campaign trainings",
                  not_run="" if throughput else "no train records written by campaign tasks"),
        ),
        figures=figures,
    )
