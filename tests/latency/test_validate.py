import pytest

import latency.validate as validate
from latency.errors import LatencyTableError
from latency.timing import Timing
from latency.validate import ValidationReport, validate_table, write_report


def test_summary_statistics_on_known_numbers():
    measured = [1.0, 2.0, 3.0, 4.0]
    predicted = [1.04, 1.7, 3.0, 4.36]  # +4%, -15%, 0%, +9%
    s = ValidationReport("ort-cpu", list("abcd"), predicted, measured).summary()
    assert s["mape_pct"] == pytest.approx(7.0)
    assert s["within_5_pct"] == pytest.approx(50.0)
    assert s["within_10_pct"] == pytest.approx(75.0)
    assert s["max_abs_error_pct"] == pytest.approx(15.0)
    assert s["kendall_tau"] == pytest.approx(1.0)


def test_validate_pairs_predictions_with_measurements(fake_table, monkeypatch, tmp_path):
    """With the measurement replaced by the table's own prediction + 3%, every error is exactly 3%."""
    monkeypatch.setattr(
        validate, "measure_arch_ms", lambda space, arch, *a, **k: fake_table.predict_ms(arch) / 1.03
    )
    fake_table.target = "torch-cpu"
    report = validate_table(fake_table, samples=12, progress=False)
    s = report.summary()
    assert s["samples"] == 12 and s["within_5_pct"] == 100.0 and s["kendall_tau"] == pytest.approx(1.0)
    assert all(e == pytest.approx(3.0) for e in report.errors_pct)
    assert "load_avg_start" in s and "seconds" in s
    assert s["raw_sum_mape_pct"] > 0  # the fake table's correction is the identity: raw sum = prediction
    assert report.raw_sum_ms == pytest.approx(report.predicted_ms)
    report.plot(tmp_path / "v.png")
    assert (tmp_path / "v.png").read_bytes()[:4] == b"\x89PNG"
    write_report(
        report, fake_table, tmp_path / "v.md", tmp_path / "v.png", command="supernet latency validate"
    )
    text = (tmp_path / "v.md").read_text()
    assert "`supernet latency validate`" in text and text.count("| `r") == 12


def test_count_tables_cannot_be_validated(fake_table):
    fake_table.target = "macs"
    with pytest.raises(LatencyTableError, match="not measured"):
        validate_table(fake_table, samples=2, progress=False)


def test_passes_give_test_retest_agreement(fake_table, monkeypatch):
    """Pass 2 runs 20% slower than pass 1: the retest difference is 20% and the min statistic keeps pass 1."""
    calls = []

    def fake(space, arch, *a, **k):
        calls.append(arch)
        return fake_table.predict_ms(arch) * (1.0 if len(calls) <= 6 else 1.2)

    monkeypatch.setattr(validate, "measure_arch_ms", fake)
    fake_table.stat, fake_table.target = "min", "torch-cpu"
    report = validate_table(fake_table, samples=6, passes=2, progress=False)
    s = report.summary()
    assert len(calls) == 12 and calls[:6] == calls[6:]
    assert s["retest_mape_pct"] == pytest.approx(20.0) and s["retest_within_10_pct"] == 0.0
    assert s["mape_pct"] == pytest.approx(0.0, abs=1e-9)


def test_passes_are_honoured(fake_table, monkeypatch):
    calls = []
    monkeypatch.setattr(validate, "measure_arch_ms", lambda space, arch, *a, **k: calls.append(arch) or 1.0)
    fake_table.target = "torch-cpu"
    report = validate_table(fake_table, samples=4, passes=3, progress=False)
    assert len(calls) == 12 and len(report.passes_ms) == 3


def test_real_ort_validation_reports_the_independent_timer(tmp_path):
    """On the tiny space: the shipped graph of each subnet is timed by the table's timer and by the
    independent one (fresh session, own warm-up); both are in the summary and the markdown report."""
    from latency.build import build_table

    from .conftest import tiny_space

    table = build_table(
        tiny_space(),
        "ort-cpu",
        tmp_path / "lut.json",
        timing=Timing(warmup=2, repeats=5),
        fit_samples=4,
        progress=False,
    )
    report = validate_table(table, samples=3, warmup=2, repeats=10, passes=1, progress=False)
    s = report.summary()
    assert len(report.independent_ms) == 3 and all(t > 0 for t in report.independent_ms)
    assert s["stat"] == "median" and s["independent_mape_pct"] >= 0 and "own_vs_independent_mape_pct" in s
    report.plot(tmp_path / "v.png")
    write_report(report, table, tmp_path / "v.md", tmp_path / "v.png", command="supernet latency validate")
    assert "independent timer" in (tmp_path / "v.md").read_text()
