"""engine/answer.py: the one state machine that ends comparisons' and samples' answers."""

from alignterm.engine.answer import GrowingAnswer

EOS = 0


class Chars:
    """A tokenizer whose tokens are strings from a table: id i is WORDS[i]."""

    WORDS = ["<eos>", "Paris", " is", " nice", ".", "\n", "```", "\n\n", "# Query", ":", " Hi", "x#", " Query"]
    eos_ids = frozenset({EOS})

    def decode(self, ids):
        return "".join(self.WORDS[i] for i in ids)


def ids(*words: str) -> list[int]:
    return [Chars.WORDS.index(w) for w in words]


def grow(stops: bool, tokens: list[int]) -> GrowingAnswer:
    answer = GrowingAnswer(Chars(), stops)
    for t in tokens:
        if answer.add(t):
            break
    return answer


def released(answer: GrowingAnswer) -> str:
    return "".join(text for _, text in answer.take_released())


def test_an_aligned_answer_is_released_token_by_token_and_ends_at_eos():
    answer = GrowingAnswer(Chars(), stops=False)
    assert not answer.add(ids("Paris")[0])
    assert answer.take_released() == [(0, "Paris")]
    assert answer.add(EOS) and answer.reason == "eos" and answer.ids == ids("Paris")


def test_a_base_answer_stops_before_fence_and_query_and_holds_them_back_meanwhile():
    answer = GrowingAnswer(Chars(), stops=True)
    for t in ids("Paris", " is", ".", "\n", "```", "\n\n"):
        answer.add(t)
    assert released(answer) == "Paris is."  # "\n```\n\n" may still grow into fence + "# Query": held
    assert answer.add(ids("# Query")[0]) and answer.reason == "stop"
    assert released(answer) == "" and answer.answer_ids == ids("Paris", " is", ".")
    assert answer.trimmed(Chars().decode(answer.ids)) == "Paris is."


def test_eos_or_length_drops_a_trailing_closing_fence_and_cancel_keeps_it():
    for end, text in (("eos", "Paris."), ("length", "Paris."), ("cancelled", "Paris.\n```")):
        answer = grow(True, ids("Paris", ".", "\n", "```"))
        if end == "eos":
            answer.add(EOS)
        else:
            answer.end(end)
        assert answer.reason == end and "".join(t for _, t in answer.take_released()) == text


def test_a_stop_string_inside_a_released_token_does_not_stop_the_answer():
    # "x#" cannot start fence + stop string, so it is released; " Query" after it is no `# Query` line
    answer = grow(True, ids("Paris", " is", "x#", " Query", "."))
    answer.end("length")
    assert answer.reason == "length" and released(answer) == "Paris isx# Query."


def test_an_ended_answer_takes_no_more_tokens():
    answer = grow(False, ids("Paris", "."))
    answer.end("cancelled")
    assert answer.add(ids(" nice")[0]) and answer.ids == ids("Paris", ".") and answer.reason == "cancelled"
