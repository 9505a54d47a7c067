"""Every kind of result record, and the metrics a record of that kind must carry.

The one place where kind names are spelled: writers (train, evaluate, bench modes, tasks)
and readers (the report) import them from here, so adding a kind touches this file and the
module that writes it.
"""

from __future__ import annotations

from typing import Final

TRAIN: Final = "train"
EVALUATE: Final = "evaluate"
BENCH_DEFAULT: Final = "bench.default"
BENCH_FRAMEWORKS: Final = "bench.frameworks"
BENCH_SWEEP: Final = "bench.sweep"
BENCH_LOADGEN: Final = "bench.loadgen"  # one MLPerf LoadGen scenario on one backend or server
BENCH_CONCURRENCY: Final = "bench.concurrency"  # a server's throughput vs concurrent clients
CAMPAIGN_TASK: Final = "campaign.task"
TRAIN_SCALING: Final = "train.scaling"  # one timed training of a campaign's scaling study
VALIDATE: Final = "validate"  # a model bundle on every runtime (fairhep validate)

# The kinds a report reads and counts (in the order its summary lists them).
REPORTED: Final[tuple[str, ...]] = (TRAIN, EVALUATE, BENCH_DEFAULT, BENCH_FRAMEWORKS, BENCH_SWEEP,
                                    BENCH_LOADGEN, BENCH_CONCURRENCY)

# The metrics a record with status "ok" cannot do without: one lacking them is valid
# JSON-Schema-wise but useless to a report, which names it under Problems and leaves it out.
REQUIRED_METRICS: Final[dict[str, tuple[str, ...]]] = {
    TRAIN: ("val_accuracy", "val_auc"),
    EVALUATE: ("accuracy", "auc"),
    BENCH_DEFAULT: ("accuracy",),
    BENCH_FRAMEWORKS: ("accuracy",),  # AUC is None when the test jets hold one class
    VALIDATE: ("passed", "runtimes"),
    TRAIN_SCALING: ("train_s_per_epoch", "jets_per_s"),
    BENCH_LOADGEN: ("p50_ms", "p99_ms"),
    BENCH_CONCURRENCY: ("best_jets_per_s", "best_concurrency"),
}

# Kinds that count only runs that finished; frameworks and sweeps list their skipped and
# failed backends themselves.
ONLY_OK: Final[tuple[str, ...]] = (TRAIN, EVALUATE, BENCH_DEFAULT)

# ---- interpretability (paper §3.4): written by fairhep.xai, read by the report's xai sections
XAI_MASK: Final = "xai.mask"  # single- and multi-feature masking (Figure 5, Table 9)
XAI_LRP: Final = "xai.lrp"  # layer-wise relevance per feature, object and layer (Figure 6)
XAI_RNA: Final = "xai.rna"  # relative neural activity, dNAP, sparsity (Figure 8)
XAI_ABLATION: Final = "xai.ablation"  # one row of Table 10
XAI: Final[tuple[str, ...]] = (XAI_MASK, XAI_LRP, XAI_RNA, XAI_ABLATION)
REQUIRED_METRICS.update({
    XAI_MASK: ("auc", "n_jets"),
    XAI_LRP: ("n_jets",),
    XAI_RNA: ("sparsity",),
    XAI_ABLATION: ("auc", "fidelity", "sparsity"),
})
