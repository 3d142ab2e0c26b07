"""The backtest as one self-contained HTML file: "how noisy would this be", at a glance.

Per detection: a timeline of matches per day with the alarm periods that would have fired, and the
top principals, keys or secrets, accounts and Regions as tables. Inline CSS and SVG only: the file
opens without a network and runs no script.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from html import escape

from deletion_alarms.backtest import TOP, DetectionStats, Options, Report

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b;max-width:72rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2.5rem}
table{border-collapse:collapse;margin:.5rem 1.5rem .5rem 0;display:inline-table;vertical-align:top}
td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left;font-size:.85rem}
td.n{text-align:right}.quiet{color:#666}.legend rect{stroke:none}
"""
BAR, GAP, HEIGHT = 14, 2, 90


def _days(stats: DetectionStats, period_seconds: int) -> tuple[list[str], dict[str, int]]:
    """Every day from the first to the last match, and the alarm periods that fired per day."""
    fired: dict[str, int] = {}
    for period in stats.periods:
        day = datetime.fromtimestamp(period * period_seconds, timezone.utc).strftime("%Y-%m-%d")
        fired[day] = fired.get(day, 0) + 1
    known = sorted(set(stats.days) | set(fired))
    if not known:
        return [], fired
    first, last = (datetime.strptime(d, "%Y-%m-%d") for d in (known[0], known[-1]))
    span = min((last - first).days, 3660)  # ten years of days at most
    return [(first + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(span + 1)], fired


def timeline(stats: DetectionStats, period_seconds: int) -> str:
    """An SVG bar per day: matches (grey) and alarm periods that would have fired (red)."""
    days, fired = _days(stats, period_seconds)
    if not days:
        return '<p class="quiet">No match.</p>'
    peak = max(max(stats.days.values(), default=0), max(fired.values(), default=0), 1)
    width = len(days) * (BAR + GAP)
    bars = []
    for i, day in enumerate(days):
        x = i * (BAR + GAP)
        for count, colour, dx, label in ((stats.days.get(day, 0), "#9aa5b1", 0, "matches"),
                                         (fired.get(day, 0), "#c62828", BAR // 2, "alarm periods")):
            if count:
                h = max(2, round(HEIGHT * count / peak))
                bars.append(f'<rect x="{x + dx}" y="{HEIGHT - h}" width="{BAR // 2}" height="{h}" fill="{colour}">'
                            f"<title>{escape(day)}: {count} {label}</title></rect>")
    labels = f'<text x="0" y="{HEIGHT + 14}" font-size="10">{escape(days[0])}</text>'
    if len(days) > 1:
        labels += f'<text x="{width}" y="{HEIGHT + 14}" font-size="10" text-anchor="end">{escape(days[-1])}</text>'
    return (f'<svg role="img" aria-label="matches and alarm periods per day" width="{max(width, 160)}" '
            f'height="{HEIGHT + 18}" xmlns="http://www.w3.org/2000/svg">{"".join(bars)}{labels}</svg>'
            '<p class="quiet legend">grey: matches per day; red: alarm periods that would have fired</p>')


def _table(title: str, rows: list[tuple[str, int]]) -> str:
    body = "".join(f'<tr><td>{escape(str(k))}</td><td class="n">{v:,}</td></tr>' for k, v in rows)
    return f"<table><tr><th>{escape(title)}</th><th>matches</th></tr>{body}</table>"


def render(report: Report, options: Options) -> str:
    """The whole report as an HTML document."""
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>deletion-alarms backtest</title>"
             f"<style>{STYLE}</style></head><body><h1>deletion-alarms backtest</h1>",
             f"<p>{report.files:,} files, {report.records:,} records, {report.parse_failures:,} unparsable, "
             f"{report.outside_window:,} outside the time window, {report.skipped_files:,} files without records "
             f"skipped. Mode {escape(options.mode)}, engine {escape(options.engine)}, alarm period "
             f"{options.period_seconds} s.</p>"]
    if report.failed_files:
        parts.append("<p>Failed files:</p><ul>" + "".join(f"<li>{escape(f)}</li>" for f in report.failed_files)
                     + "</ul>")
    for detection in options.detections():
        stats = report.detections[detection.name]
        skipped = f", {stats.excluded:,} by expected deleters skipped" if detection.name in options.skips() else ""
        parts.append(f'<section id="{escape(detection.name)}"><h2>{escape(detection.name)}: '
                     f"{escape(detection.title)}</h2><p>{stats.matches:,} matches{skipped}; would have fired in "
                     f"{len(stats.periods):,} {options.period_seconds}-second periods.</p>")
        parts.append(timeline(stats, options.period_seconds))
        if stats.matches:
            parts.append("".join(_table(title, counter.most_common(TOP)) for title, counter in (
                ("principal", stats.principals), ("key or secret", stats.resources),
                ("account", stats.accounts), ("Region", stats.regions))))
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "".join(parts)
