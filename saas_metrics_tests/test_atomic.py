"""Concurrent writers of one file each replace it whole; none fails, nothing half-written is seen."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from saas_metrics.atomic import write_text_atomically


def test_concurrent_writers_of_one_page_all_succeed_and_leave_no_temporary_file(tmp_path: Path) -> None:
    (folder := tmp_path / "reports").mkdir()
    page = folder / "dashboard.html"
    texts = [f"<html>{i}</html>" * 2000 for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        written = list(pool.map(lambda text: write_text_atomically(page, text), texts * 4))
    assert written == [page] * 64
    assert page.read_text(encoding="utf-8") in texts  # one writer's whole text, never a mix
    assert [p.name for p in folder.iterdir()] == ["dashboard.html"]
    assert page.stat().st_mode & 0o777 == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    (folder := tmp_path / "docs").mkdir()
    page = folder / "index.html"
    write_text_atomically(page, "old")
    try:
        write_text_atomically(page, "\ud800")  # not encodable as UTF-8
    except UnicodeEncodeError:
        pass
    else:
        raise AssertionError("expected UnicodeEncodeError")
    assert page.read_text() == "old" and [p.name for p in folder.iterdir()] == ["index.html"]
