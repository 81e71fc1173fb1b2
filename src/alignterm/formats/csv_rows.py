"""One CSV row per answer token, for spreadsheets and pandas."""

from __future__ import annotations

import csv
from typing import Any, TextIO

COLUMNS = ["query_index", "query", "side", "position", "id", "text", "logprob", "other_rank",
           "other_logprob", "shift", "kl"]


class CsvWriter:
    """Writes the header once, then the tokens of each record."""

    def __init__(self, out: TextIO) -> None:
        self._w = csv.writer(out)
        self._w.writerow(COLUMNS)
        self._index = 0

    def write(self, record: dict[str, Any]) -> None:
        for side in ("aligned", "base"):
            for pos, t in enumerate(record[side]["tokens"]):
                self._w.writerow([self._index, record["query"], side, pos, t["id"], t["text"], t["logprob"],
                                  t["other_rank"], t["other_logprob"], t["shift"], t["kl"]])
        self._index += 1
