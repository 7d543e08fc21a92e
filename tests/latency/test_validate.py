import pytest

import latency.validate as validate
from latency.errors import LatencyTableError
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
    fake_table.stat = "min"
    report = validate_table(fake_table, samples=6, passes=2, progress=False)
    s = report.summary()
    assert len(calls) == 12 and calls[:6] == calls[6:]
    assert s["retest_mape_pct"] == pytest.approx(20.0) and s["retest_within_10_pct"] == 0.0
    assert s["mape_pct"] == pytest.approx(0.0, abs=1e-9)
