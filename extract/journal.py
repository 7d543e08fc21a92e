"""The search journal: every scored arch is appended (and flushed) the moment it is scored, so a killed
search resumes where it stopped.

Scores depend only on the checkpoint and the scoring data (not on the table, strategy or seed), so the
journal is a cache keyed by those: a rerun of the same command replays the cached scores as ordinary
evaluations (the search takes exactly the path an uninterrupted run takes, and writes the same log),
and scores only what the killed run had not reached. A journal made under other settings, or torn by
the kill, is ignored past its last complete line. `supernet extract` deletes it once `search.json`,
which holds every score, is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from supernet import ArchConfig, SupernetError
from supernet.checks import check_float
from supernet.files import append_line, atomic_write_text
from supernet.jsonfile import parse_json

JOURNAL = "search.journal.jsonl"


class SearchJournal:
    def __init__(self, path: str | Path, settings: dict) -> None:
        """Open `path`: reuse its scores if it was made under `settings`, else start it afresh."""
        self.path, self.settings = Path(path), settings
        self.cache: dict[ArchConfig, float] = {}
        lines = self._complete_lines()
        header = {"settings": settings}
        if lines and self._parse(lines[0]) == header:
            for line in lines[1:]:
                entry = self._parse(line)
                try:
                    self.cache[ArchConfig.from_dict(entry["arch"])] = check_float("score", entry["score"])
                except (SupernetError, KeyError, TypeError, ValueError):
                    break  # a damaged tail: the scores before it still hold
            self.replayed = len(self.cache)
            atomic_write_text(self.path, "".join(line + "\n" for line in lines[: 1 + len(self.cache)]))
        else:
            self.replayed = 0
            atomic_write_text(self.path, json.dumps(header) + "\n")

    def _complete_lines(self) -> list[str]:
        if not self.path.is_file():
            return []
        text = self.path.read_bytes().decode("utf-8", errors="replace")
        return text.split("\n")[:-1]  # the part after the last newline is a torn write

    @staticmethod
    def _parse(line: str):
        try:
            return parse_json(line, "search journal line")
        except SupernetError:
            return None

    def wrap(self, score_fn: Callable[[ArchConfig], float]) -> Callable[[ArchConfig], float]:
        """`score_fn` that answers from the journal first and journals every new score."""

        def score(arch: ArchConfig) -> float:
            if arch in self.cache:
                return self.cache[arch]
            value = float(score_fn(arch))
            append_line(self.path, json.dumps({"arch": arch.to_dict(), "score": value}))
            self.cache[arch] = value
            return value

        return score

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
