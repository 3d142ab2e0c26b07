"""The backtest as one self-contained HTML file: "how noisy would this be", at a glance.

A header (source, time range, when it was made, engine, mode, period) and a summary table; per
detection, a timeline of matches per day with the alarm periods that would have fired (axes with
values, an accessible name of its own), and the top principals, keys or secrets, accounts and
Regions as tables. Inline CSS and SVG only: the file opens without a network and runs no script;
it reads on a phone (390 px wide) as on a desktop. Colours meet WCAG 2.2's contrast for graphics
(1.4.11, 3:1 against the white page), which a test computes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from html import escape

from typing import TYPE_CHECKING

from deletion_alarms.backtest import DetectionStats, Options, Report, top

if TYPE_CHECKING:
    from deletion_alarms.inventory import Pending

MATCHES_COLOUR, ALARMS_COLOUR, TEXT_COLOUR, QUIET_COLOUR = "#4f5b66", "#c62828", "#1b1b1b", "#595959"
STYLE = f"""
body{{font-family:system-ui,sans-serif;margin:1rem;color:{TEXT_COLOUR};max-width:72rem}}
h1{{font-size:1.4rem}}h2{{font-size:1.15rem;margin-top:2rem;overflow-wrap:anywhere}}
.scroll{{overflow-x:auto;max-width:100%}}
table{{border-collapse:collapse;margin:.5rem 1.5rem .5rem 0;display:inline-table;vertical-align:top}}
td,th{{border:1px solid #767676;padding:.2rem .5rem;text-align:left;font-size:.85rem;overflow-wrap:anywhere}}
td.n,th.n{{text-align:right}}.quiet{{color:{QUIET_COLOUR}}}
.key{{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 .8rem;vertical-align:middle}}
@media (max-width:40rem){{table{{display:block;overflow-x:auto;margin-right:0}}}}
"""
BAR, GAP, HEIGHT, AXIS = 14, 2, 90, 36  # AXIS: room left of the bars for the value labels


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


def timeline(stats: DetectionStats, period_seconds: int, name: str = "detection") -> str:
    """An SVG bar per day: matches and alarm periods that would have fired, on a y axis from 0 to
    the peak, with the first and last day under the x axis. Each bar names its day and count."""
    days, fired = _days(stats, period_seconds)
    if not days:
        return '<p class="quiet">No match.</p>'
    peak = max(max(stats.days.values(), default=0), max(fired.values(), default=0), 1)
    width = AXIS + len(days) * (BAR + GAP)
    bars = []
    for i, day in enumerate(days):
        x = AXIS + i * (BAR + GAP)
        for count, colour, dx, label in ((stats.days.get(day, 0), MATCHES_COLOUR, 0, "matches"),
                                         (fired.get(day, 0), ALARMS_COLOUR, BAR // 2, "alarm periods")):
            if count:
                h = max(2, round(HEIGHT * count / peak))
                bars.append(f'<rect x="{x + dx}" y="{HEIGHT - h}" width="{BAR // 2}" height="{h}" fill="{colour}">'
                            f"<title>{escape(day)}: {count} {label}</title></rect>")
    axes = (f'<line x1="{AXIS - 2}" y1="0" x2="{AXIS - 2}" y2="{HEIGHT}" stroke="{TEXT_COLOUR}"/>'
            f'<line x1="{AXIS - 2}" y1="{HEIGHT}" x2="{width}" y2="{HEIGHT}" stroke="{TEXT_COLOUR}"/>'
            f'<text x="{AXIS - 5}" y="10" font-size="10" text-anchor="end">{peak:,}</text>'
            f'<text x="{AXIS - 5}" y="{HEIGHT}" font-size="10" text-anchor="end">0</text>'
            f'<text x="{AXIS}" y="{HEIGHT + 14}" font-size="10">{escape(days[0])}</text>')
    if len(days) > 1:
        axes += f'<text x="{width}" y="{HEIGHT + 14}" font-size="10" text-anchor="end">{escape(days[-1])}</text>'
    label = (f"{name}: matches and alarm periods per day, {days[0]} to {days[-1]}; at most {peak:,} a day, "
             f"{stats.matches:,} matches in all")
    return (f'<div class="scroll"><svg role="img" aria-label="{escape(label)}" width="{max(width, 200)}" '
            f'height="{HEIGHT + 18}" xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>'
            f'{axes}{"".join(bars)}</svg></div>'
            f'<p class="quiet"><span class="key" style="background:{MATCHES_COLOUR}"></span>matches per day'
            f'<span class="key" style="background:{ALARMS_COLOUR}"></span>alarm periods that would have fired</p>')


def _table(title: str, rows: list[tuple[str, int]]) -> str:
    body = "".join(f'<tr><td>{escape(str(k))}</td><td class="n">{v:,}</td></tr>' for k, v in rows)
    return f"<table><tr><th>{escape(title)}</th><th>matches</th></tr>{body}</table>"


def summary(report: Report, options: Options) -> str:
    """One row per detection: matches, alarm periods, first and last match."""
    rows = []
    for d in options.detections():
        stats = report.detections[d.name]
        rows.append(f'<tr><td><a href="#{escape(d.name)}">{escape(d.name)}</a></td><td class="n">{stats.matches:,}</td>'
                    f'<td class="n">{len(stats.periods):,}</td><td>{escape(str(stats.first or ""))}</td>'
                    f'<td>{escape(str(stats.last or ""))}</td></tr>')
    return ('<table><caption class="quiet">Summary</caption><tr><th>detection</th><th class="n">matches</th>'
            f'<th class="n">alarm periods ({options.period_seconds} s)</th><th>first</th><th>last</th></tr>'
            + "".join(rows) + "</table>")


def _page(title: str, header: list[tuple[str, str]]) -> str:
    """The document's head and header table, in the report's style."""
    return ('<!doctype html><html lang=en><head><meta charset=utf-8>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<header><h1>{escape(title)}</h1><table>"
            + "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in header)
            + "</table></header>")


def inventory_page(found: "list[Pending]", scope: str, generated_at: str, fail_within: int | None = None) -> str:
    """The inventory as one self-contained HTML file: a row per key or secret pending deletion,
    soonest first; those within ``fail_within`` days marked."""
    from deletion_alarms.inventory import COLUMNS

    soon = sum(1 for p in found if fail_within is not None and p.days_left <= fail_within)
    header = [("Scope", scope), ("Generated", generated_at), ("Pending deletion", f"{len(found):,}")]
    if fail_within is not None:
        header.append((f"Within {fail_within} days", f"{soon:,}"))
    parts = [_page("deletion-alarms inventory", header)]
    if not found:
        parts.append('<p class="quiet">Nothing pending deletion.</p>')
    else:
        rows = []
        for pending in found:
            mark = ' style="font-weight:bold"' if fail_within is not None and pending.days_left <= fail_within else ""
            rows.append(f"<tr{mark}>" + "".join(
                f'<td{" class=n" if i == 4 else ""}>{escape(cell)}</td>' for i, cell in enumerate(pending.row()))
                + "</tr>")
        parts.append('<div class="scroll"><table><caption class="quiet">Keys and secrets pending deletion, soonest '
                     "first</caption><tr>" + "".join(f"<th>{escape(c)}</th>" for c in COLUMNS) + "</tr>"
                     + "".join(rows) + "</table></div>")
    parts.append("</body></html>\n")
    return "".join(parts)


def render(report: Report, options: Options, source: str = "", generated_at: str = "") -> str:
    """The whole report as an HTML document. ``source`` names what was read, ``generated_at`` when."""
    window = f"{options.start or 'the beginning'} to {options.end or 'the end'}"
    header = [("Source", source or "(not given)"), ("Time range", window), ("Generated", generated_at or "(not given)"),
              ("Engine", options.engine), ("Mode", options.mode), ("Alarm period", f"{options.period_seconds} s"),
              ("Read", report.read_summary())]
    parts = [_page("deletion-alarms backtest", header), summary(report, options)]
    if report.failed_files:
        parts.append("<p>Failed files:</p><ul>" + "".join(f"<li>{escape(f)}</li>" for f in report.failed_files)
                     + "</ul>")
    for detection in options.detections():
        stats = report.detections[detection.name]
        skipped = f", {stats.excluded:,} by expected deleters skipped" if detection.name in options.skips() else ""
        parts.append(f'<section id="{escape(detection.name)}"><h2>{escape(detection.name)}: '
                     f"{escape(detection.title)}</h2><p>{stats.matches:,} matches{skipped}; would have fired in "
                     f"{len(stats.periods):,} {options.period_seconds}-second periods.</p>")
        parts.append(timeline(stats, options.period_seconds, detection.name))
        if stats.matches:
            parts.append("".join(_table(title, top(counter)) for title, counter in (
                ("principal", stats.principals), ("key or secret", stats.resources),
                ("account", stats.accounts), ("Region", stats.regions))))
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "".join(parts)
