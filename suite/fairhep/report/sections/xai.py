"""Tables 9 and 10 (interpretability): the paper's values only, no record kind measures them."""

from __future__ import annotations

from fairhep.report.context import Context
from fairhep.report.section import Section, Table, row

ID = "xai"
T9_HEADERS = ("Threshold [%]", "ΔP", "ΔS", "AUC [%]", "Fidelity [%]")
T10_HEADERS = ("ΔP, ΔS", "h, D_E, D_O", "Parameters", "AUC [%]", "Fidelity [%]", "Sparsity")


def build(ctx: Context) -> Section:
    t9, t10 = ctx.published("table9"), ctx.published("table10")
    t9_rows = tuple(
        row(T9_HEADERS, [str(r[k]) for k in ("threshold", "delta_p", "delta_s", "auc", "fidelity")])
        for r in t9["rows"]
    )
    t10_rows = tuple(
        row(
            T10_HEADERS,
            [
                f"{r['delta_p']}, {r['delta_s']}",
                f"{r['hidden']}, {r['d_e']}, {r['d_o']}",
                str(r["parameters"]),
                str(r["auc"]),
                str(r["fidelity"]),
                str(r["sparsity"]),
            ],
        )
        for r in t10["rows"]
    )
    return Section(
        ID,
        "Tables 9 and 10 — interpretability (published values)",
        "No record kind of this campaign measures these; shown for reference.",
        tables=(
            Table("table9_published", T9_HEADERS, t9_rows),
            Table("table10_published", T10_HEADERS, t10_rows),
        ),
    )
