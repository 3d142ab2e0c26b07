"""The backtest's HTML report: structure, not pixels. One self-contained file: a section per
detection with a timeline (matches and alarm periods per day) and the top tables; nothing loaded
from a network, no script."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from deletion_alarms import backtest as bt
from deletion_alarms import cli, htmlreport
from tests.deletion_alarms.test_backtest import write_archive


class Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.rects: dict[str, int] = {}
        self.tables: dict[str, int] = {}
        self.cells: list[str] = []
        self.external: list[str] = []
        self.tags: set[str] = set()
        self._in_cell = False

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.add(tag)
        attrs = dict(attrs)
        for name in ("src", "href"):
            if name in attrs:
                self.external.append(attrs[name])
        if tag == "section":
            self.sections.append(attrs["id"])
        elif tag == "rect" and self.sections:
            self.rects[self.sections[-1]] = self.rects.get(self.sections[-1], 0) + 1
        elif tag == "table" and self.sections:
            self.tables[self.sections[-1]] = self.tables.get(self.sections[-1], 0) + 1
        self._in_cell = tag == "td"

    def handle_data(self, data) -> None:
        if self._in_cell:
            self.cells.append(data)


def test_report_has_a_timeline_and_tables_per_detection(tmp_path: Path) -> None:
    options = bt.Options()
    report = bt.run(bt.local_files([str(write_archive(tmp_path))]), options, workers=1)
    page = Structure()
    page.feed(htmlreport.render(report, options))
    assert page.sections == [d.name for d in options.detections()]
    for d in options.detections():
        stats = report.detections[d.name]
        days_with_periods = {htmlreport._days(stats, 60)[1].get(day, 0) > 0 for day in stats.days}
        if stats.matches:
            # a grey bar per day with matches, a red one per day with alarm periods
            assert page.rects[d.name] == len(stats.days) + len(htmlreport._days(stats, 60)[1])
            assert page.tables[d.name] == 4
            top_principal, _ = stats.principals.most_common(1)[0]
            assert top_principal in page.cells
            assert days_with_periods == {True}
        else:
            assert d.name not in page.tables
    assert "script" not in page.tags and page.external == []


def test_cli_writes_the_file_and_refuses_a_missing_folder(tmp_path: Path, capsys) -> None:
    folder = write_archive(tmp_path / "archive")
    out = tmp_path / "report.html"
    assert cli.main(["backtest", str(folder), "--workers", "1", "--html", str(out)]) == 0
    assert out.read_text().startswith("<!doctype html>")
    assert cli.main(["backtest", str(folder), "--html", str(tmp_path / "nope" / "r.html")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_an_empty_detection_says_no_match() -> None:
    stats = bt.DetectionStats()
    assert "No match" in htmlreport.timeline(stats, 60)
