"""One CSV row per answer token, for spreadsheets and pandas.

Each row names its query (index, and the input line's "id" if any), the URIAL prompt, the side
whose answer the token is in and the lens it was scored under: `urial` or `bare` for the aligned
answer under base + that prompt, `reverse` for the base answer under the aligned model. A URIAL
run writes the aligned answer twice, once per lens, so closure can be recomputed from the rows.
"""

from __future__ import annotations

import csv
from typing import Any, TextIO

COLUMNS = ["query_index", "query_id", "query", "urial", "side", "lens", "position", "id", "text", "logprob",
           "other_rank", "other_logprob", "shift", "kl"]


class CsvWriter:
    """Writes the header once, then the tokens of each record."""

    def __init__(self, out: TextIO) -> None:
        self._w = csv.writer(out)
        self._w.writerow(COLUMNS)
        self._index = 0

    def write(self, record: dict[str, Any]) -> None:
        urial = record.get("urial") or "none"
        answers = [("aligned", "bare" if urial == "none" else "urial", record["aligned"]["tokens"]),
                   ("base", "reverse", record["base"]["tokens"])]
        if record.get("aligned_bare"):
            answers.insert(1, ("aligned", "bare", record["aligned_bare"]["tokens"]))
        for side, lens, tokens in answers:
            for pos, t in enumerate(tokens):
                self._w.writerow([self._index, record.get("id", ""), record["query"], urial, side, lens, pos, t["id"],
                                  t["text"], t["logprob"], t["other_rank"], t["other_logprob"], t["shift"], t["kl"]])
        self._index += 1
