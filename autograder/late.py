"""The late policy: how many points a late submission loses, decided once for every output.

    cs231n-grade CLASS --out OUT --due 2026-03-14T23:59:00+00:00 --late-policy 10/day
    --late-policy none | P/day | P/day,zero-after=D | zero-after=D

A student's submission time is the latest of their notebooks' files (the time Canvas or
cs231n-submit's zip gave them). Late by any part of a day counts the whole day (Canvas and
nbgrader's SubMarks count the same way, by the hour or the day): P percent of the points for
each day, never below 0; after D days, 0. The due date and policy are kept in
OUT/late_policy.json, so reruns apply them without the flags. The penalty is ours computed the
way nbgrader's `LateSubmissionPlugin.late_submission_penalty(student_id, score,
total_seconds_late)` computes its own, and it is written where nbgrader keeps it
(`SubmittedAssignment.late_submission_penalty`), so grades.csv (nbgrader's export: raw_score,
late_submission_penalty, score) agrees with every other file. Both the original and the
penalised score are kept. Imports nothing that runs a kernel.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from cs231n_utils.files import atomic_write

SAVED = "late_policy.json"
DAY = 86400.0
SPEC = re.compile(r"^(?:(?P<percent>\d+(?:\.\d+)?)/day)?,?(?:zero-after=(?P<days>\d+(?:\.\d+)?))?$")


class LatePolicyError(ValueError):
    """A due date or a late policy that cannot be read."""


@dataclass(frozen=True)
class LatePolicy:
    due: str = ""  # ISO 8601 with a time zone; "" applies no penalty
    percent_per_day: float = 0.0
    zero_after_days: float | None = None

    @classmethod
    def parse(cls, due: str, spec: str = "none") -> LatePolicy:
        try:
            when = datetime.datetime.fromisoformat(due)
        except ValueError as error:
            raise LatePolicyError(
                f"--due {due!r} is not a date such as 2026-03-14T23:59+00:00"
            ) from error
        if when.tzinfo is None:
            raise LatePolicyError(f"--due {due!r} needs a time zone, e.g. +00:00")
        if spec == "none":
            return cls(when.isoformat())
        match = SPEC.match(spec)
        if not spec or match is None or not (match["percent"] or match["days"]):
            raise LatePolicyError(
                f"--late-policy {spec!r}: use none, P/day, P/day,zero-after=D or zero-after=D"
            )
        days = float(match["days"]) if match["days"] else None
        return cls(when.isoformat(), float(match["percent"] or 0), days)

    def days_late(self, submitted_at: str) -> int:
        """Whole days (started) after the due date; 0 when on time or unknown."""
        if not self.due or not submitted_at:
            return 0
        seconds = (
            datetime.datetime.fromisoformat(submitted_at)
            - datetime.datetime.fromisoformat(self.due)
        ).total_seconds()
        return math.ceil(seconds / DAY) if seconds > 0 else 0

    def penalty(self, score: float, submitted_at: str) -> float:
        """The points `score` loses when handed in at `submitted_at` (0 <= penalty <= score)."""
        days = self.days_late(submitted_at)
        if not days or score <= 0:
            return 0.0
        if self.zero_after_days is not None and days > self.zero_after_days:
            return score
        return min(score, score * self.percent_per_day / 100 * days)

    def describe(self, submitted_at: str, score: float) -> str:
        """One line for a feedback page: how late, and what it cost; "" when on time."""
        days = self.days_late(submitted_at)
        if not days:
            return ""
        lost = self.penalty(score, submitted_at)
        return f"handed in {days} day(s) late: {lost:g} of {score:g} points deducted"


def save(out: Path, policy: LatePolicy) -> None:
    atomic_write(out / SAVED, json.dumps(asdict(policy)))


def load(out: Path) -> LatePolicy:
    """The policy an earlier run was given; no penalty when none was."""
    try:
        return LatePolicy(**json.loads((out / SAVED).read_text()))
    except (OSError, ValueError, TypeError):
        return LatePolicy()


def submitted_at(times: list[str]) -> str:
    """A student's submission time: the latest of their notebooks' ("" if none is known)."""
    known = [t for t in times if t]
    return max(known, key=datetime.datetime.fromisoformat) if known else ""


def write_penalties(db_url: str, times: dict[str, str], policy: LatePolicy) -> None:
    """Each student's penalty where nbgrader keeps it (SubmittedAssignment's
    late_submission_penalty, on its score: autograded and hand points), from `times`
    (student id -> submission time), so nbgrader's export subtracts it as ours do."""
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.course import ASSIGNMENT

    with Gradebook(db_url) as gradebook:
        for student, when in times.items():
            try:
                submission = gradebook.find_submission(ASSIGNMENT, student)
            except MissingEntry:
                continue
            submission.late_submission_penalty = policy.penalty(submission.score, when) or None
        gradebook.db.commit()
