"""The generator writes only into folders it alone wrote, unless forced."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from saas_metrics.sample_data import generate
from saas_metrics.sample_data.manifest import MANIFEST_FILE, ForeignFilesError, foreign_files

SMALL = {"seed": 3, "customers": 5, "months": 2, "end_month": dt.date(2025, 6, 1), "product_events": False}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_its_own_folder_is_written_again_and_the_manifest_lists_every_file(tmp_path: Path) -> None:
    summary = generate(tmp_path, **SMALL)
    listed = json.loads((tmp_path / MANIFEST_FILE).read_text())
    assert sorted(listed) == sorted(p.relative_to(tmp_path).as_posix() for p in summary.paths)
    assert len(listed) == 27 + 6  # the native files without product usage, and 6 ground-truth files
    assert foreign_files(tmp_path) == []
    generate(tmp_path, **{**SMALL, "seed": 4})  # its own files: replaced without asking
    assert foreign_files(tmp_path) == []


def test_a_folder_with_other_files_is_refused_and_left_untouched(tmp_path: Path) -> None:
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "customers.csv").write_text("id,email\ncus_real,ceo@example.com\n")  # a real export
    (tmp_path / "notes.txt").write_text("keep me")
    before = _snapshot(tmp_path)
    with pytest.raises(ForeignFilesError, match=r"holds 2 file\(s\) the sample data generator did not write: billing/customers.csv, notes.txt"):
        generate(tmp_path, **SMALL)
    assert _snapshot(tmp_path) == before


def test_a_generated_file_changed_since_is_not_the_generators_any_more(tmp_path: Path) -> None:
    generate(tmp_path, **SMALL)
    (tmp_path / "fx" / "rates.csv").write_text("date,base,quote,rate\n2025-06-01,USD,EUR,0.9\n")
    (tmp_path / "billing" / "refunds.csv").unlink()  # a deleted file is simply gone
    assert foreign_files(tmp_path) == ["fx/rates.csv"]
    with pytest.raises(ForeignFilesError):
        generate(tmp_path, **SMALL)


def test_force_writes_its_files_and_leaves_the_others(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    generate(tmp_path, force=True, **SMALL)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert foreign_files(tmp_path) == ["notes.txt"]


def test_an_absent_folder_has_no_foreign_files(tmp_path: Path) -> None:
    assert foreign_files(tmp_path / "missing") == []
    (tmp_path / MANIFEST_FILE).write_text("not json")
    (tmp_path / "a.csv").write_text("x\n")
    assert foreign_files(tmp_path) == ["a.csv"]  # an unreadable manifest lists nothing
