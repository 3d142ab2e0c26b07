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
        self.labels: list[str] = []
        self.viewport = ""
        self._in_cell = False

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.add(tag)
        attrs = dict(attrs)
        for name in ("src", "href"):
            if name in attrs and not attrs[name].startswith("#"):  # an anchor within the page is no fetch
                self.external.append(attrs[name])
        if "aria-label" in attrs:
            self.labels.append(attrs["aria-label"])
        if tag == "meta" and attrs.get("name") == "viewport":
            self.viewport = attrs["content"]
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
    folder = write_archive(tmp_path / "archive", broken=False)
    out = tmp_path / "report.html"
    assert cli.main(["backtest", str(folder), "--workers", "1", "--html", str(out)]) == 0
    assert out.read_text().startswith("<!doctype html>")
    assert cli.main(["backtest", str(folder), "--html", str(tmp_path / "nope" / "r.html")]) == cli.EXIT_USAGE
    assert "does not exist" in capsys.readouterr().err


def test_an_empty_detection_says_no_match() -> None:
    stats = bt.DetectionStats()
    assert "No match" in htmlreport.timeline(stats, 60)


def relative_luminance(colour: str) -> float:
    """WCAG 2.2's relative luminance of an sRGB colour "#rrggbb"."""
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str = "#ffffff") -> float:
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_is_computed_the_wcag_way() -> None:
    assert round(contrast("#000000"), 1) == 21.0 and round(contrast("#767676"), 2) == 4.54
    assert contrast("#9aa5b1") < 3  # the first report's grey bars: 2.5:1, below WCAG 1.4.11


def test_colours_meet_wcag_contrast() -> None:
    assert contrast(htmlreport.MATCHES_COLOUR) >= 3 and contrast(htmlreport.ALARMS_COLOUR) >= 3  # 1.4.11
    assert contrast(htmlreport.TEXT_COLOUR) >= 4.5 and contrast(htmlreport.QUIET_COLOUR) >= 4.5  # 1.4.3


def test_the_page_reads_on_a_phone_and_says_what_it_shows(tmp_path: Path) -> None:
    options = bt.Options(start="2026-11-01", end="2026-12-01")
    report = bt.run(bt.local_files([str(write_archive(tmp_path))]), options, workers=1)
    html = htmlreport.render(report, options, "s3://cloudtrail-111122223333/AWSLogs/", "2026-11-30 08:00 UTC")
    page = Structure()
    page.feed(html)
    assert page.viewport == "width=device-width, initial-scale=1"
    for text in ("s3://cloudtrail-111122223333/AWSLogs/", "2026-11-01T00:00:00Z to 2026-12-01T00:00:00Z",
                 "2026-11-30 08:00 UTC", "EventBridge", "AccessAndDeletion"):
        assert text in page.cells, text
    charts = [label for label in page.labels if "per day" in label]
    assert charts and len(charts) == len(set(charts))  # one accessible name per chart
    assert all(label.split(":")[0] in {d.name for d in options.detections()} for label in charts)
    assert "@media (max-width:40rem)" in html and ".scroll{overflow-x:auto" in html
