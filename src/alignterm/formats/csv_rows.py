"""One CSV row per answer token, for spreadsheets and pandas.

Each row names its query (index, the input line's "id" if any, and its turn: a conversation's
"turns" line numbers its turns from 1, each with its own query index; a single query is turn 1),
the URIAL prompt, the side
whose answer the token is in and the lens it was scored under: `urial` or `bare` for the aligned
answer under base + that prompt, `reverse` for the base answer under the aligned model. A URIAL
run writes the aligned answer twice, once per lens, so closure can be recomputed from the rows.
With `--nudge`, two more columns and the nudged answer's rows (side `nudged`, no lens): which
model chose each token and the base model's top-1 probability there.
"""

from __future__ import annotations

import csv
from typing import Any, TextIO

COLUMNS = ["query_index", "query_id", "turn", "query", "urial", "side", "lens", "position", "id", "text", "logprob",
           "other_rank", "other_logprob", "shift", "kl"]


NUDGE_COLUMNS = ["chosen_by", "base_top1"]


class CsvWriter:
    """Writes the header once, then the tokens of each record (`nudged`: with the nudged answers)."""

    def __init__(self, out: TextIO, nudged: bool = False) -> None:
        self._w = csv.writer(out)
        self._nudged = nudged
        self._w.writerow(COLUMNS + NUDGE_COLUMNS if nudged else COLUMNS)
        self._index = 0

    def write(self, record: dict[str, Any]) -> None:
        urial = record.get("urial") or "none"
        answers = [("aligned", "bare" if urial == "none" else "urial", record["aligned"]["tokens"]),
                   ("base", "reverse", record["base"]["tokens"])]
        if record.get("aligned_bare"):
            answers.insert(1, ("aligned", "bare", record["aligned_bare"]["tokens"]))
        blank = [""] * len(NUDGE_COLUMNS) if self._nudged else []
        head = [self._index, record.get("id", ""), record.get("turn", 1), record["query"], urial]
        for side, lens, tokens in answers:
            for pos, t in enumerate(tokens):
                self._w.writerow([*head, side, lens, pos, t["id"], t["text"], t["logprob"], t["other_rank"],
                                  t["other_logprob"], t["shift"], t["kl"], *blank])
        if self._nudged:
            for pos, t in enumerate(record["nudged"]["tokens"]):
                self._w.writerow([*head, "nudged", "", pos, t["id"], t["text"], "", "", "", "", "", t["chosen_by"],
                                  t["base_top1"]])
        self._index += 1
