"""The backtest and the inventory as self-contained HTML files: "how noisy would this be" and "what
is about to go", at a glance.

The backtest: a header (source, time range, when it was made, engine, mode, period) and a summary
table; per detection, two charts over the scanned window, matches per day and alarm periods that
would have fired per day, each on its own scale so that both stay visible, spanning the page (the
bars are SVG stretched to the width, the axis text is HTML so it stays readable), and the top
principals, keys or secrets, accounts and Regions as tables. The inventory: a table on a desktop,
a card per key or secret on a phone. Cells break long values only after ":", "/" and "_". Inline
CSS only: the files open without a network and run no script. Colours meet WCAG 2.2's contrast for
graphics (1.4.11, 3:1 against the white page), which a test computes; the layout is checked in
headless Chromium at 390 and 1280 px.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import escape

from typing import TYPE_CHECKING

from deletion_alarms.backtest import DetectionStats, Options, Report, top
from deletion_alarms.words import plural

if TYPE_CHECKING:
    from deletion_alarms.inventory import Pending

MATCHES_COLOUR, ALARMS_COLOUR, TEXT_COLOUR, QUIET_COLOUR = "#4f5b66", "#c62828", "#1b1b1b", "#595959"
# Tables break long values (ARNs) only where <wbr> allows: after ":" and "/", never inside a word.
# Below 40rem, the inventory's rows become cards (each cell under its column's name). Charts span
# the page; their text is HTML, so that it stays readable however wide the chart is drawn.
STYLE = f"""
body{{font-family:system-ui,sans-serif;margin:1rem;color:{TEXT_COLOUR};max-width:72rem}}
h1{{font-size:1.4rem}}h2{{font-size:1.15rem;margin-top:2rem}}
.scroll{{overflow-x:auto;max-width:100%}}
table{{border-collapse:collapse;margin:.5rem 1.5rem .5rem 0;display:inline-table;vertical-align:top}}
td,th{{border:1px solid #767676;padding:.2rem .5rem;text-align:left;font-size:.85rem}}
caption{{text-align:left}}td.n,th.n{{text-align:right}}.quiet{{color:{QUIET_COLOUR}}}.w,.x span{{white-space:nowrap}}
.key{{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 .8rem;vertical-align:middle}}
.chart{{margin:.8rem 0}}.chart p{{margin:.2rem 0;font-size:.85rem}}
.plot{{display:flex;gap:.3rem}}
.plot .y{{display:flex;flex-direction:column;justify-content:space-between;min-width:3.2rem;text-align:right;font-size:.75rem}}
.plot svg{{flex:1;min-width:0;height:5rem;border-left:1px solid {TEXT_COLOUR};border-bottom:1px solid {TEXT_COLOUR}}}
.x{{display:flex;justify-content:space-between;margin-left:3.5rem;font-size:.75rem}}
@media (max-width:40rem){{
table{{display:block;overflow-x:auto;margin-right:0}}
table.cards,table.cards tbody,table.cards tr,table.cards td{{display:block;width:auto}}
table.cards tr.head{{display:none}}table.cards caption{{display:block}}
table.cards tr{{border:1px solid #767676;margin:.6rem 0;padding:.3rem .5rem}}
table.cards td{{border:0;padding:.1rem 0;text-align:left}}
table.cards td::before{{content:attr(data-label) ": ";font-weight:600}}
}}
"""
CHART_UNITS = 100  # a chart's drawing height; its width is one unit per day, stretched to the page
MIN_BAR = 3  # a day with any count stays visible next to the busiest


def cell(text: str) -> str:
    """``text`` escaped for a table cell, breakable at spaces and after ":", "/" and "_" (ARNs, paths,
    times, SSO role names), and nowhere else: browsers also break after a hyphen, which would split key IDs, Region
    names and dates, so each piece is kept whole (a nowrap span); copied text is unchanged."""
    out = []
    for token in re.split(r"(\s+)", text):
        if not token or token.isspace():
            out.append(escape(token))
            continue
        pieces = [p for p in re.split(r"(?<=[:/_])", token) if p]
        out.append("<wbr>".join(f'<span class="w">{escape(p)}</span>' for p in pieces))
    return "".join(out)


def _day(moment: str) -> datetime:
    return datetime.strptime(moment[:10], "%Y-%m-%d")


def _days(stats: DetectionStats, period_seconds: int, start: str | None = None,
          end: str | None = None) -> tuple[list[str], dict[str, int]]:
    """Every day of the scanned window (``start`` to ``end``; else the first to the last match), and
    the alarm periods that fired per day."""
    fired: dict[str, int] = {}
    for period in stats.periods:
        day = datetime.fromtimestamp(period * period_seconds, timezone.utc).strftime("%Y-%m-%d")
        fired[day] = fired.get(day, 0) + 1
    known = sorted(set(stats.days) | set(fired))
    if not known:
        return [], fired
    first = min(_day(start), _day(known[0])) if start else _day(known[0])
    last = _day(known[-1])
    if end:  # the window ends before ``end``: its last day is the one before an end at midnight
        last = max(last, _day(end) - timedelta(days=1) if end[10:].strip("T0:Z") == "" else _day(end))
    span = min((last - first).days, 3660)  # ten years of days at most
    return [(first + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(span + 1)], fired


def _panel(days: list[str], counts: dict[str, int], colour: str, what: str) -> str:
    """One series as bars per day, on its own scale (0 to its peak), with HTML axis labels."""
    peak = max(counts.values(), default=0)
    bars = []
    for i, day in enumerate(days):
        count = counts.get(day, 0)
        if count:
            h = max(MIN_BAR, round(CHART_UNITS * count / peak))
            bars.append(f'<rect x="{i + 0.1:.1f}" y="{CHART_UNITS - h}" width="0.8" height="{h}" fill="{colour}">'
                        f"<title>{escape(day)}: {count:,} {what}</title></rect>")
    ticks = [days[0]] if len(days) == 1 else ([days[0], days[-1]] if len(days) < 3 else
                                              [days[0], days[len(days) // 2], days[-1]])
    return (f'<p><span class="key" style="background:{colour};margin-left:0"></span>{escape(what)} per day '
            f'(at most {peak:,} a day)</p><div class="plot"><div class="y"><span>{peak:,}</span><span>0</span></div>'
            f'<svg viewBox="0 0 {len(days)} {CHART_UNITS}" preserveAspectRatio="none" '
            f'xmlns="http://www.w3.org/2000/svg" aria-hidden="true">{"".join(bars)}</svg></div>'
            f'<div class="x">{"".join(f"<span>{escape(t)}</span>" for t in ticks)}</div>')


def timeline(stats: DetectionStats, period_seconds: int, name: str = "detection", start: str | None = None,
             end: str | None = None) -> str:
    """Matches per day and alarm periods that would have fired per day, over the scanned window, each
    on its own scale (the alarm periods stay visible on the busiest day), spanning the page width."""
    days, fired = _days(stats, period_seconds, start, end)
    if not days:
        return '<p class="quiet">No match.</p>'
    label = (f"{name}: matches and alarm periods per day, {days[0]} to {days[-1]}; at most "
             f"{max(stats.days.values(), default=0):,} matches a day, {stats.matches:,} matches in all, "
             f"{len(stats.periods):,} alarm periods")
    return (f'<div class="chart" role="img" aria-label="{escape(label)}">'
            + _panel(days, dict(stats.days), MATCHES_COLOUR, "matches")
            + _panel(days, fired, ALARMS_COLOUR, "alarm periods that would have fired") + "</div>")


def _table(title: str, rows: list[tuple[str, int]]) -> str:
    body = "".join(f'<tr><td>{cell(str(k))}</td><td class="n">{v:,}</td></tr>' for k, v in rows)
    return f"<table><tr><th>{escape(title)}</th><th>matches</th></tr>{body}</table>"


def summary(report: Report, options: Options) -> str:
    """One row per detection: matches, alarm periods, first and last match."""
    rows = []
    for d in options.detections():
        stats = report.detections[d.name]
        rows.append(f'<tr><td><a href="#{escape(d.name)}">{escape(d.name)}</a></td><td class="n">{stats.matches:,}</td>'
                    f'<td class="n">{len(stats.periods):,}</td><td>{cell(str(stats.first or ""))}</td>'
                    f'<td>{cell(str(stats.last or ""))}</td></tr>')
    return ('<table><caption class="quiet">Summary</caption><tr><th>detection</th><th class="n">matches</th>'
            f'<th class="n">alarm periods ({options.period_seconds} s)</th><th>first</th><th>last</th></tr>'
            + "".join(rows) + "</table>")


def _page(title: str, header: list[tuple[str, str]]) -> str:
    """The document's head and header table, in the report's style."""
    return ('<!doctype html><html lang=en><head><meta charset=utf-8>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<header><h1>{escape(title)}</h1><table>"
            + "".join(f"<tr><th>{escape(k)}</th><td>{cell(v)}</td></tr>" for k, v in header)
            + "</table></header>")


def inventory_page(found: "list[Pending]", scope: str, generated_at: str, fail_within: int | None = None) -> str:
    """The inventory as one self-contained HTML file: a row per key or secret pending deletion,
    soonest first; those within ``fail_within`` days marked."""
    from deletion_alarms.inventory import COLUMNS

    soon = sum(1 for p in found if fail_within is not None and p.within(fail_within))
    header = [("Scope", scope), ("Generated", generated_at), ("Pending deletion", f"{len(found):,}")]
    if fail_within is not None:
        header.append((f"Within {plural(fail_within, 'day')}", f"{soon:,}"))
    parts = [_page("deletion-alarms inventory", header)]
    if not found:
        parts.append('<p class="quiet">Nothing pending deletion.</p>')
    else:
        rows = []
        for pending in found:
            mark = ' style="font-weight:bold"' if fail_within is not None and pending.within(fail_within) else ""
            rows.append(f"<tr{mark}>" + "".join(
                f'<td data-label="{escape(column)}"{" class=n" if i == 4 else ""}>{cell(value)}</td>'
                for i, (column, value) in enumerate(zip(COLUMNS, pending.row()))) + "</tr>")
        parts.append('<div class="scroll"><table class="cards"><caption class="quiet">Keys and secrets pending '
                     'deletion, soonest first</caption><tr class="head">'
                     + "".join(f"<th>{escape(c)}</th>" for c in COLUMNS) + "</tr>" + "".join(rows) + "</table></div>")
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
                     f"{escape(detection.title)}</h2><p>{plural(stats.matches, 'match', 'matches')}{skipped}; would have "
                     f"fired in {plural(len(stats.periods), 'alarm period')} of {options.period_seconds} s.</p>")
        parts.append(timeline(stats, options.period_seconds, detection.name, options.start, options.end))
        if stats.matches:
            parts.append("".join(_table(title, top(counter)) for title, counter in (
                ("principal", stats.principals), ("key or secret", stats.resources),
                ("account", stats.accounts), ("Region", stats.regions))))
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "".join(parts)
