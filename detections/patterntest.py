"""Prove detections on labelled CloudTrail records: the matrix behind ``deletion-alarms test-patterns``.

A sample file (``tests/corpus/*.json``) is a JSON list of ``{"class", "expect", "why", "record"}``:
a record class, the detections the record must trigger, why, and the CloudTrail record itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from detections.catalog import Detection
from detections.patterns import compile_pattern


@dataclass(frozen=True)
class Sample:
    """One labelled CloudTrail record."""

    cls: str
    expect: frozenset[str]
    why: str
    record: dict[str, Any]

    @property
    def message(self) -> str:
        """The record as CloudWatch Logs stores it: one compact JSON log event."""
        return json.dumps(self.record, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class Verdict:
    detection: str
    cls: str
    expected: bool
    got: bool

    @property
    def ok(self) -> bool:
        return self.expected == self.got


def load_samples(directory: Path) -> list[Sample]:
    """Every sample of every ``*.json`` file in ``directory``, in file then list order."""
    samples = []
    for path in sorted(directory.glob("*.json")):
        for item in json.loads(path.read_text()):
            samples.append(Sample(item["class"], frozenset(item["expect"]), item["why"], item["record"]))
    if not samples:
        raise FileNotFoundError(f"no samples in {directory}")
    return samples


def local_verdicts(samples: Iterable[Sample], detections: Iterable[Detection]) -> list[Verdict]:
    """Our engine's verdict for every (detection, sample) pair, with the label's expectation."""
    samples = list(samples)
    verdicts = []
    for d in detections:
        pattern = compile_pattern(d.filter_pattern)
        verdicts += [Verdict(d.name, s.cls, d.name in s.expect, pattern.matches(s.record)) for s in samples]
    return verdicts


def format_matrix(verdicts: list[Verdict]) -> str:
    """A text matrix: one row per record class, one column per detection; cells are
    ``expected/got`` as ``+``/``-``, and a mismatch is flagged with ``!``."""
    detections = list(dict.fromkeys(v.detection for v in verdicts))
    classes = list(dict.fromkeys(v.cls for v in verdicts))
    cell = {(v.detection, v.cls): v for v in verdicts}
    width = max(len(c) for c in classes)
    lines = [" " * width + "  " + " ".join(f"{i + 1:^4}" for i in range(len(detections)))]
    for cls in classes:
        marks = []
        for d in detections:
            v = cell[(d, cls)]
            marks.append(f"{'+' if v.expected else '-'}/{'+' if v.got else '-'}{' ' if v.ok else '!'}")
        lines.append(f"{cls:<{width}}  " + " ".join(marks))
    lines.append("")
    lines += [f"{i + 1:>3} = {d}" for i, d in enumerate(detections)]
    bad = [v for v in verdicts if not v.ok]
    lines.append(f"cells are expected/got; {len(verdicts) - len(bad)} agree, {len(bad)} differ")
    return "\n".join(lines)
