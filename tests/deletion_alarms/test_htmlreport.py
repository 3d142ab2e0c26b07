"""The HTML reports. Structure: one self-contained file, a section per detection with its charts
(matches and alarm periods per day) and top tables, nothing loaded from a network, no script. And
layout, in a real browser (Debian's headless Chromium) at 390 and 1280 px, as users see them: no
word broken inside, no cell too narrow for its text, cards on a phone, charts across the page with
both series visible and date labels apart; a mutation restores the first report's faults."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
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
        self._cell: list[str] = []

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
        if tag == "td":
            self._in_cell, self._cell = True, []

    def handle_endtag(self, tag) -> None:
        if tag == "td" and self._in_cell:
            self.cells.append("".join(self._cell))  # a cell's text, across its <wbr> break points
            self._in_cell = False

    def handle_data(self, data) -> None:
        if self._in_cell:
            self._cell.append(data)


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
            # a grey bar per day with matches, a red one per day with alarm periods, each on its own scale
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
    assert "@media (max-width:40rem)" in html


# ------------------------------------------------------------------ in a real browser, as users see them
CHROMIUM = "/usr/bin/chromium"  # Debian's chromium package (dev.py test installs it)
# What the page looks like, measured inside an iframe of the width under test (headless Chromium's
# window is at least 500 px wide; an iframe's own width is the width its media queries see).
MEASURE = """
const frame = document.getElementById('page');
frame.addEventListener('load', () => {
  const doc = frame.contentDocument, win = frame.contentWindow, out = {};
  out.width = win.innerWidth;
  out.overflow = doc.documentElement.scrollWidth - win.innerWidth;
  out.broken = [];
  const walker = doc.createTreeWalker(doc.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, re = /\\S+/g;
    if (!node.parentElement.closest('td, th, .x, .y')) continue;  // prose may break at a hyphen
    let m;
    while ((m = re.exec(node.textContent))) {
      const range = doc.createRange();
      range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
      const lines = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top)));
      if (lines.size > 1) out.broken.push(m[0]);
    }
  }
  const content = doc.body.clientWidth;
  out.charts = Array.from(doc.querySelectorAll('.plot svg')).map(svg => svg.getBoundingClientRect().width / content);
  out.overlaps = Array.from(doc.querySelectorAll('.x')).filter(axis => {
    const r = Array.from(axis.children).map(s => s.getBoundingClientRect());
    return r.some((a, i) => i > 0 && a.left < r[i - 1].right);
  }).length;
  out.bars = Array.from(doc.querySelectorAll('rect')).map(r => {
    const b = r.getBoundingClientRect(); return [r.getAttribute('fill'), b.width, b.height];
  });
  out.cells = Array.from(doc.querySelectorAll('table.cards td')).map(td => td.getBoundingClientRect().width);
  out.clipped = Array.from(doc.querySelectorAll('td, th')).filter(c => c.scrollWidth > c.clientWidth + 1)
    .map(c => c.textContent);
  document.getElementById('result').textContent = JSON.stringify(out);
});
"""


def measure(page: str, width: int, tmp_path: Path) -> dict:
    import html as html_module
    import json
    import re
    import subprocess

    outer = tmp_path / f"outer-{width}.html"
    outer.write_text(f'<!doctype html><html><body style="margin:0"><iframe id="page" style="width:{width}px;'
                     f'height:3000px;border:0" srcdoc="{html_module.escape(page)}"></iframe><pre id="result"></pre>'
                     f"<script>{MEASURE}</script></body></html>")
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / f'profile-{width}'}", "--window-size=1400,3200",
         "--virtual-time-budget=5000", "--dump-dom", outer.as_uri()],
        capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="result">(.*?)</pre>', result.stdout, re.S)
    assert found and found.group(1), result.stderr[-2000:]
    return json.loads(html_module.unescape(found.group(1)))


def inventory_example() -> str:
    from deletion_alarms.inventory import Pending

    found = [Pending("111122223333", "us-east-1", "KMS key", "arn:aws:kms:us-east-1:111122223333:key/"
                     "1234abcd-12ab-34cd-56ef-1234567890ab", "alias/orders-db", "PendingDeletion",
                     "2026-12-12T14:03:27Z", 6.9, "arn:aws:sts::111122223333:assumed-role/platform-admin/alice",
                     "2026-12-05T14:03:27Z", 12),
             Pending("444455556666", "eu-west-1", "secret", "arn:aws:secretsmanager:eu-west-1:444455556666:secret:"
                     "prod/payments/database-credentials-a1B2c3", "prod/payments/database-credentials",
                     "ScheduledForDeletion", "2026-12-30T09:00:00Z", 24.7,
                     "arn:aws:sts::444455556666:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/"
                     "bob@example.com", "2026-11-30T09:00:00Z", None)]
    return htmlreport.inventory_page(found, "organization o-a1b2c3d4e5, 2 accounts, 2 Regions",
                                     "2026-12-05 08:00 UTC", fail_within=7)


def backtest_example(tmp_path: Path) -> str:
    options = bt.Options(start="2026-11-01", end="2026-12-01")
    report = bt.run(bt.local_files([str(write_archive(tmp_path / "archive", broken=False))]), options, workers=1)
    return htmlreport.render(report, options, "s3://cloudtrail-111122223333/AWSLogs/", "2026-12-05 08:00 UTC")


def layout_problems(page: str, width: int, tmp_path: Path) -> list[str]:
    """What a reader at ``width`` px would see wrong."""
    seen = measure(page, width, tmp_path)
    problems = []
    if seen["width"] != width:
        problems.append(f"laid out at {seen['width']} px")
    if seen["overflow"] > 1:
        problems.append(f"the page scrolls sideways by {seen['overflow']} px")
    if seen["broken"]:
        problems.append(f"words broken inside: {seen['broken'][:5]}")
    if any(ratio < 0.75 for ratio in seen["charts"]):
        problems.append(f"charts narrower than the page: {seen['charts']}")
    if seen["overlaps"]:
        problems.append(f"{seen['overlaps']} date axes with overlapping labels")
    if any(w < 1 or h < 2 for _, w, h in seen["bars"]):
        problems.append("a bar too small to see")
    if seen["clipped"]:
        problems.append(f"cells too narrow for their text: {seen['clipped'][:3]}")
    if width < 640 and any(w < width * 0.6 for w in seen["cells"]):
        problems.append("inventory cells narrower than a card")
    return problems


needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Debian chromium: run the tests with "
                                    "'python3 dev.py test', which installs it")


@needs_chromium
@pytest.mark.parametrize("width", [390, 1280])
def test_the_inventory_reads_on_a_phone_and_a_desktop(width, tmp_path) -> None:
    assert layout_problems(inventory_example(), width, tmp_path) == []


@needs_chromium
@pytest.mark.parametrize("width", [390, 1280])
def test_the_backtest_charts_span_the_page_with_both_series_visible(width, tmp_path) -> None:
    page = backtest_example(tmp_path)
    seen = measure(page, width, tmp_path)
    alarms = [b for b in seen["bars"] if b[0] == htmlreport.ALARMS_COLOUR]
    assert seen["charts"] and alarms  # the busiest day has alarm periods, drawn on their own scale
    assert layout_problems(page, width, tmp_path) == []


@needs_chromium
def test_the_layout_check_sees_the_old_report(tmp_path) -> None:
    """The mutation: the first report's cells (overflow-wrap:anywhere, no cards) break ARNs inside
    words, and its chart drew alarm periods on the matches' scale in a fixed-width SVG."""
    page = inventory_example().replace('class="cards"', "").replace("<wbr>", "").replace(
        "td,th{border", "td,th{overflow-wrap:anywhere;border")
    problems = layout_problems(page, 390, tmp_path)
    assert any(p.startswith("words broken inside") for p in problems), problems
    narrow = backtest_example(tmp_path).replace(".plot svg{flex:1;", ".plot svg{width:60px;flex:none;")
    assert any(p.startswith("charts narrower") for p in layout_problems(narrow, 1280, tmp_path))
