"""Latency under load (``fairhep bench --loadgen``): MLPerf LoadGen scenarios per backend or
served model and platform: latency percentiles, the Server scenario's rate at its bound,
Offline throughput, and LoadGen's verdict (an INVALID run is listed with its reasons, never
as a result; its figures stay out of the plots); and a server's throughput against concurrent
clients (``fairhep bench --concurrency-sweep``) as a table and a throughput-latency curve."""

from __future__ import annotations

from collections.abc import Sequence

from fairhep.plots import grouped_bars
from fairhep.plots.base import Figure
from fairhep.plots.throughput_latency import throughput_latency_figure
from fairhep.report.context import Context
from fairhep.report.grouping import model_label, platform_sort
from fairhep.report.recordset import Record
from fairhep.report.section import Section, Table, row
from fairhep.results import kinds

ID = "latency"
HEADERS = ("Platform", "Model", "Target", "Scenario", "LoadGen", "p50 ms", "p90 ms",
           "p99 ms", "Early-stopping ms", "QPS", "Duration s")
PERCENTILES = ("p50", "p90", "p99")
NONE = "–"


def _ms(ns: float | None) -> str:
    return NONE if ns is None else f"{ns / 1e6:.3f}"


def qps_of(r: Record) -> tuple[float | None, str]:
    """The scenario's rate and what it is (Server: the highest VALID rate under its bound)."""
    m, scenario = r.metrics, r.config.get("scenario")
    q = m.get("qps") or {}
    if scenario == "Server":
        bound = m.get("latency_bound_ms")
        return m.get("qps_at_bound"), f"at p99 <= {bound:g} ms" if bound else ""
    if scenario == "Offline":
        return q.get("Samples per second"), "jets/s"
    return q.get("QPS w/o loadgen overhead"), "queries/s"


def _row(r: Record) -> tuple[str, ...]:
    m = r.metrics
    lat = m.get("latency_ns") or {}
    early = m.get("early_stopping_ns") or {}
    verdict = str(m.get("result", "?"))
    if verdict != "VALID":
        verdict += f" ({', '.join(m.get('invalid_because') or ())})"
    rate, what = qps_of(r)
    return (r.platform, model_label(r), str(r.config.get("label")),
            str(r.config.get("scenario")), verdict, *(_ms(lat.get(p)) for p in PERCENTILES),
            ", ".join(f"{k} {_ms(v)}" for k, v in early.items()) or NONE,
            NONE if rate is None else f"{rate:,.0f} {what}",
            str((r.config.get("loadgen") or {}).get("min_duration_ms", 0) / 1000))


def _figure(ctx: Context, recs: Sequence[Record]) -> Figure | None:
    series: dict[str, dict[str, tuple[float, float]]] = {p: {} for p in PERCENTILES}
    for r in recs:
        if r.record.status != "ok" or r.config.get("scenario") == "Offline":
            continue  # an Offline "latency" is the whole run's; INVALID runs are no result
        cat = f"{r.config.get('label')} {r.config.get('scenario')} ({r.platform})"
        for p in PERCENTILES:
            ns = (r.metrics.get("latency_ns") or {}).get(p)
            if ns is not None:
                series[p][cat] = (ns / 1e6, 0.0)
    if not any(series.values()):
        return None
    return grouped_bars(ctx.fig_dir, "latency_percentiles",
                        "LoadGen latency percentiles per target and scenario (VALID runs)",
                        "latency per query (ms)", series, log=True)


SWEEP_ID = "throughput_latency"
SWEEP_HEADERS = ("Platform", "Model", "Target", "Jets/request", "Clients", "Jets/s",
                 "p50 ms", "p90 ms", "p95 ms", "p99 ms", "Server ms")


def _sweep_rows(recs: Sequence[Record]) -> tuple[tuple[str, ...], ...]:
    out = []
    for r in recs:
        for lv in r.metrics.get("levels") or ():
            server = lv.get("server_mean_ms")
            out.append((r.platform, model_label(r), str(r.config.get("label")),
                        str((r.config.get("sweep") or {}).get("batch", "?")),
                        str(lv["concurrency"]), f"{lv['jets_per_s']:,.0f}",
                        *(f"{lv[f'p{p}_ms']:.3f}" for p in (50, 90, 95, 99)),
                        NONE if server is None else f"{server:.3f}"))
    return tuple(out)


def _sweep_figure(ctx: Context, recs: Sequence[Record]) -> Figure | None:
    series = {f"{r.config.get('label')} {r.config.get('model')} ({r.platform})":
              r.metrics["levels"] for r in recs if r.metrics.get("levels")}
    if not series:
        return None
    return throughput_latency_figure(ctx.fig_dir, SWEEP_ID,
                                     "Throughput against latency as concurrent clients grow",
                                     series)


def build(ctx: Context) -> Section:
    recs = sorted(ctx.records.of(kinds.BENCH_LOADGEN),
                  key=lambda r: (platform_sort(r.platform), model_label(r),
                                 str(r.config.get("label")), str(r.config.get("scenario"))))
    ran = [r for r in recs if r.metrics.get("latency_ns")]
    rows = tuple(row(HEADERS, _row(r)) for r in ran)
    skipped = sorted({f"{s['what']}: {s['reason']}" for r in recs if not
                      r.metrics.get("latency_ns") for s in r.record.skipped})
    fig = _figure(ctx, ran)
    sweeps = sorted((r for r in ctx.records.of(kinds.BENCH_CONCURRENCY)
                     if r.record.status == "ok"),
                    key=lambda r: (platform_sort(r.platform), str(r.config.get("label"))))
    sweep_fig = _sweep_figure(ctx, sweeps)
    return Section(
        ID,
        "Latency under load (MLPerf LoadGen)",
        "`fairhep bench --loadgen`: LoadGen's SingleStream (p90 and its early-stopping "
        "estimate), MultiStream, Server (the highest Poisson rate LoadGen calls VALID with "
        "p99 under the stated bound) and Offline (throughput) per backend or served model. "
        "LoadGen's verdict is in every row; an INVALID run is not a result and stays out of "
        "the figure. Durations below MLPerf's 600 s are not MLPerf-conformant submissions.",
        tables=(Table(ID, HEADERS, rows,
                      not_run="; ".join(skipped) if rows else
                      "no bench.loadgen records (`fairhep bench --loadgen "
                      "SingleStream,Server,Offline`)"),
                Table(SWEEP_ID, SWEEP_HEADERS,
                      tuple(row(SWEEP_HEADERS, c) for c in _sweep_rows(sweeps)),
                      caption="Throughput against concurrent clients: closed-loop clients "
                      "doubled until throughput stops rising (`fairhep bench "
                      "--concurrency-sweep --url ...`); client-side latency percentiles and, "
                      "with --metrics-url, the server's own mean time per request.",
                      not_run="" if sweeps else "no bench.concurrency records (`fairhep "
                      "bench --concurrency-sweep --url URL`)")),
        figures=tuple(f for f in (fig, sweep_fig) if f is not None),
    )
