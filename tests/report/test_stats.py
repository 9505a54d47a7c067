"""fairhep.stats against numbers computed by hand here (formulas written out, math.erfc)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from fairhep import published, stats


def normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def test_summary_is_mean_and_sample_std() -> None:
    vals = [0.9541, 0.9547, 0.9552, 0.9539, 0.9546]
    mean = sum(vals) / 5
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / 4)
    s = stats.summarize(vals)
    assert s.n == 5
    assert s.mean == pytest.approx(mean, abs=1e-15)
    assert s.std == pytest.approx(std, rel=1e-12)
    assert s.fmt(4) == f"{mean:.4f} ± {std:.4f}"
    one = stats.summarize([0.95])
    assert one.n == 1 and math.isnan(one.std) and one.fmt() == "0.9500"
    assert stats.summarize([]).fmt() == "missing"


def test_normal_p_value_on_the_papers_summary_numbers() -> None:
    # Table 4: 0.9545 ± 0.0005 vs 0.9550 and 0.9898 ± 0.0002 vs 0.9900: z = 1 for both.
    by_hand = normal_sf(1.0)
    assert by_hand == pytest.approx(0.158655, abs=1e-6)
    assert stats.upper_tail_p(0.9550, 0.9545, 0.0005, 10) == pytest.approx(by_hand, rel=1e-6)
    assert stats.upper_tail_p(0.9900, 0.9898, 0.0002, 10) == pytest.approx(by_hand, rel=1e-6)
    # ... which is not the printed 12.69 % / 9.27 %: those need z = 1.141 and z = 1.324.
    assert normal_sf(1.1412) == pytest.approx(0.1269, abs=2e-5)
    assert normal_sf(1.3243) == pytest.approx(0.0927, abs=2e-5)


def test_candidate_methods_against_the_printed_p_values() -> None:
    """Which methods can give 12.69 % / 9.27 % once the printed mean/std rounding is allowed?"""
    t4 = published.load("table4")
    acc = (
        t4["original"]["val_accuracy"],
        t4["this_work"]["val_accuracy_mean"],
        t4["this_work"]["val_accuracy_std"],
    )
    auc = (
        t4["original"]["val_auc"],
        t4["this_work"]["val_auc_mean"],
        t4["this_work"]["val_auc_std"],
    )
    p_acc, p_auc = float(t4["p_value"]["val_accuracy"]) / 100, float(t4["p_value"]["val_auc"]) / 100

    # normal: the accuracy bounds by hand, corners of the rounding box (mean ± 0.00005,
    # std ± 0.00005): smallest p at mean 0.95445, std 0.00045 (z = 1.222), largest at
    # mean 0.95455, std 0.00055 (z = 0.818).
    lo, hi = stats.p_value_bounds(*acc, 10, "normal")
    assert lo == pytest.approx(normal_sf((0.9550 - 0.95445) / 0.00045), rel=1e-6)
    assert hi == pytest.approx(normal_sf((0.9550 - 0.95455) / 0.00055), rel=1e-6)
    assert lo <= p_acc <= hi
    lo, hi = stats.p_value_bounds(*auc, 10, "normal")
    assert lo == pytest.approx(normal_sf((0.9900 - 0.98975) / 0.00015), rel=1e-6)
    assert lo <= p_auc <= hi

    # student (same statistic, t with 9 dof): compatible too, barely for accuracy.
    lo, hi = stats.p_value_bounds(*acc, 10, "student")
    assert lo <= p_acc <= hi and p_acc - lo < 0.001
    # prediction interval (statistic / sqrt(1 + 1/10)): its smallest accuracy p is above 12.69 %.
    lo, _ = stats.p_value_bounds(*acc, 10, "prediction")
    assert lo > p_acc
    # empirical from 10 trials: multiples of 10 % only.
    trials = [0.9540, 0.9541, 0.9542, 0.9543, 0.9544, 0.9546, 0.9547, 0.9548, 0.9551, 0.9553]
    p = stats.upper_tail_p(0.9550, 0.0, 0.0, 10, "empirical", trials)
    assert p == pytest.approx(0.2)
    assert round(p_acc * 10, 6) != round(p_acc * 10)


def test_student_and_prediction_against_the_t_cdf_by_hand() -> None:
    # t with 1 dof is Cauchy: sf(t) = 1/2 - atan(t)/pi. n = 2 trials -> 1 dof.
    mean, std, pub = 0.95, 0.01, 0.96
    t = (pub - mean) / std
    assert stats.upper_tail_p(pub, mean, std, 2, "student") == pytest.approx(
        0.5 - math.atan(t) / math.pi, rel=1e-9
    )
    tp = t / math.sqrt(1 + 1 / 2)
    assert stats.upper_tail_p(pub, mean, std, 2, "prediction") == pytest.approx(
        0.5 - math.atan(tp) / math.pi, rel=1e-9
    )
    assert math.isnan(stats.upper_tail_p(pub, mean, 0.0, 2))
    with pytest.raises(ValueError, match="unknown p-value method 'bayes'"):
        stats.upper_tail_p(pub, mean, std, 2, "bayes")


def test_verdict_thresholds() -> None:
    assert stats.verdict(0.05) == "consistent"
    assert stats.verdict(0.0499) == "tension"
    assert stats.verdict(0.01) == "tension"
    assert stats.verdict(0.0099) == "inconsistent"
    assert stats.verdict(math.nan) == "undetermined"


def test_spread_chi2_on_the_papers_table7() -> None:
    # Method 1 accuracy: HAL 0.9541, DGX 0.9563, ThetaGPU 0.9555 with Table 4's seed spread.
    vals = [0.9541, 0.9563, 0.9555]
    m = sum(vals) / 3
    chi2 = sum((v - m) ** 2 for v in vals) / 0.0005**2
    assert chi2 == pytest.approx(9.92, rel=1e-9)
    res = stats.spread_consistency({"hal": [0.9541], "dgx": [0.9563], "thetagpu": [0.9555]}, 0.0005)
    assert res.method == "chi2" and res.dof == 2
    assert res.statistic == pytest.approx(chi2, rel=1e-9)
    assert res.p == pytest.approx(math.exp(-chi2 / 2), rel=1e-9)  # chi2 sf with 2 dof
    assert res.verdict == "inconsistent"  # p = 0.70 %: the paper's own rows are in tension
    # AUC: 0.9897, 0.9905, 0.9901 with 0.0002 -> chi2 = 8, p = e^-4 = 1.83 %.
    res = stats.spread_consistency({"hal": [0.9897], "dgx": [0.9905], "thetagpu": [0.9901]}, 0.0002)
    assert res.p == pytest.approx(math.exp(-4), rel=1e-6)
    assert res.verdict == "tension"


def test_spread_anova_by_hand() -> None:
    groups = {"a": [1.0, 2.0, 3.0], "b": [2.0, 3.0, 4.0], "c": [6.0, 7.0, 8.0]}
    grand = 36 / 9
    ssb = sum(3 * (sum(v) / 3 - grand) ** 2 for v in groups.values())  # 3*(4+1+9) = 42
    ssw = sum(sum((x - sum(v) / 3) ** 2 for x in v) for v in groups.values())  # 6
    f = (ssb / 2) / (ssw / 6)
    assert f == pytest.approx(21.0)
    res = stats.spread_consistency(groups)
    assert res.method == "anova" and res.statistic == pytest.approx(f)
    # F(2, 6) survival function by hand: (1 + 2F/6)^(-3) for d1 = 2, d2 = 6.
    assert res.p == pytest.approx((1 + 2 * f / 6) ** -3, rel=1e-6)
    assert res.verdict == "inconsistent"


def test_spread_pooled_sigma_and_undetermined() -> None:
    # One group with spread, one single run: pooled within-group std, chi2 of the means.
    res = stats.spread_consistency({"a": [1.0, 3.0], "b": [2.5]})
    sigma = math.sqrt(2.0)  # ((1-2)^2 + (3-2)^2) / 1
    grand = (2 * 2.0 + 2.5) / 3
    chi2 = (2 * (2.0 - grand) ** 2 + (2.5 - grand) ** 2) / sigma**2
    assert res.method == "chi2" and res.sigma == pytest.approx(sigma)
    assert res.statistic == pytest.approx(chi2)
    assert stats.spread_consistency({"a": [1.0], "b": [2.0]}).verdict == "undetermined"
    same = stats.spread_consistency({"a": [0.84], "b": [0.84]})
    assert same.method == "identical" and same.p == 1.0 and same.verdict == "consistent"
    assert stats.spread_consistency({"a": [1.0, 2.0]}).method == "none"


def test_compare_to_published_by_hand() -> None:
    vals = [0.9541, 0.9547, 0.9552]
    m = sum(vals) / 3
    s = math.sqrt(sum((v - m) ** 2 for v in vals) / 2)
    z = (m - 0.9563) / (s * math.sqrt(1 + 1 / 3))
    c = stats.compare_to_published(vals, 0.9563, sigma=0.0005)
    assert c.z == pytest.approx(z) and c.sigma == pytest.approx(s)
    assert c.p == pytest.approx(2 * normal_sf(abs(z)))
    one = stats.compare_to_published([0.9550], 0.9541, sigma=0.0005)
    assert one.z == pytest.approx((0.9550 - 0.9541) / (0.0005 * math.sqrt(2)))
    assert stats.compare_to_published([0.9550], 0.9541).verdict == "undetermined"


def test_framework_parity_on_the_papers_table8() -> None:
    rows = {(r["dataset"], r["framework"]): r for r in published.load("table8")["rows"]}
    ref = rows[("all", "torch")]
    trt = rows[("all", "tensorrt")]
    p = stats.framework_parity(trt["accuracy"], trt["auc"], ref["accuracy"], ref["auc"])
    assert p.verdict == "parity (metrics only)" and p.per_jet_ok is None
    # Inside the container PyTorch printed 0.97569 / 0.99122 while ONNX printed 0.97507 / 0.99103.
    app_t, app_o = rows[("apptainer", "torch")], rows[("apptainer", "onnxruntime")]
    p = stats.framework_parity(app_o["accuracy"], app_o["auc"], app_t["accuracy"], app_t["auc"])
    assert p.d_accuracy == pytest.approx(0.97507 - 0.97569)
    assert not p.accuracy_equal and not p.auc_equal
    assert p.verdict == "accuracy differs; AUC differs"
    # One printed unit apart (0.97506 vs 0.97507) at tolerance 1e-5 is still equal.
    assert stats.framework_parity(
        Decimal("0.97506"), 0.99103, Decimal("0.97507"), 0.99103, accuracy_tol=1e-5
    ).accuracy_equal
    # Per-jet tolerance.
    assert (
        stats.framework_parity(0.9, 0.99, 0.9, 0.99, 2e-3, 1e-3).verdict
        == "per-jet tolerance exceeded"
    )
    assert stats.framework_parity(0.9, 0.99, 0.9, 0.99, 4e-4, 1e-3).verdict == "parity"


def test_framework_parity_without_auc() -> None:
    # A test sample with one class has no AUC: accuracy and per-jet checks still decide.
    p = stats.framework_parity(0.9, None, 0.9, None, 1e-7, 1e-5)
    assert p.auc_equal is None and math.isnan(p.d_auc)
    assert p.verdict == "parity, AUC not compared"
    assert stats.framework_parity(0.8, None, 0.9, 0.95).verdict == "accuracy differs"
