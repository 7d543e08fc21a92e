"""`check_fresh_dir`: the output guard of commands that cannot resume (`supernet tune`)."""

from __future__ import annotations

import pytest

from supernet.errors import OutputError
from supernet.outdir import check_fresh_dir, owned_folder


def test_a_new_or_empty_folder_passes_and_is_not_created(tmp_path):
    assert check_fresh_dir(tmp_path / "new", overwrite=False) == tmp_path / "new"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    (tmp_path / "empty").mkdir()
    assert check_fresh_dir(tmp_path / "empty", overwrite=False) == tmp_path / "empty"


def test_leftovers_of_a_killed_run_do_not_count_as_results(tmp_path):
    out = tmp_path / "tune"
    out.mkdir()
    (out / ".lock").write_text('{"pid": 1}')
    (out / ".best_config.json.abc123.tmp").write_text("half")
    (out / ".staging-x").mkdir()
    assert check_fresh_dir(out, overwrite=False) == out


def test_a_folder_with_results_needs_overwrite(tmp_path):
    out = tmp_path / "tune"
    out.mkdir()
    for name in ("best_config.json", "tune_results.md", "ray", "best-run"):
        (out / name).write_text("x")
    with pytest.raises(
        OutputError,
        match=r"--out .*tune is not empty \(it holds best-run, best_config.json, ray, \.\.\.\); pass --overwrite",
    ):
        check_fresh_dir(out, overwrite=False, what="tune results")
    assert check_fresh_dir(out, overwrite=True) == out
    with pytest.raises(OutputError, match="existing file"):
        check_fresh_dir(out / "ray", overwrite=True)


def test_owned_folder_removes_a_folder_it_created_when_nothing_was_written(tmp_path):
    out = check_fresh_dir(tmp_path / "tune", overwrite=False)
    with pytest.raises(RuntimeError), owned_folder(out, "tune folder"):
        assert (out / ".lock").is_file()
        raise RuntimeError("the sweep failed")
    assert not out.exists()
