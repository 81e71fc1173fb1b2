"""Texts made from the demo world: the base corpus, the SFT set and the demo queries.

The aligned model must differ from the base mostly in *style*, as the URIAL paper
found for real pairs. So every answer, in the base corpus and in the SFT set, is
built from the same content sentences (`answer_content`); the SFT answers only wrap
them in assistant style (`styled`). The base corpus holds the same style on about a
fifth of its question/answer pages, so the base model knows it but rarely picks it
unprompted: that is the gap the TDS view shows and a URIAL prompt closes.

Plain answers give a random part of the content (the topic's first sentence, then each
other one by chance); assistant answers give all of it, as Lake et al. (2024) found aligned
answers pack what several base answers say. Some question/answer pages put a `# Summary:`
block (the answer's salient words, diversity mode's semantic hint) before each answer: as
plain answers vary, the summary is what tells which facts follow, so the base model learns
to use one.
"""

from __future__ import annotations

import random

from ..diversity import salient_words
from .world import Entity, World

# Content sentences, shared by every answer. An answer never starts with a bare name:
# at the start of a line a name is a different token (no leading space) from the one
# in the query, and a tiny model copies the same token far more reliably.
# People are "Master <name>" in this world for the same reason.
_SENTENCES = {
    "town": {
        "kind": "The town of {name} is in the {region} region.",
        "river": "It lies on the river {river}.",
        "craft": "The town is known for its {craft}.",
        "craft_named": "The town of {name} is known for its {craft}.",
        "century": "It was founded in the {century} century.",
        "century_named": "The town of {name} was founded in the {century} century.",
    },
    "person": {
        "kind": "Master {name} was {a_profession} from the town of {hometown}.",
        "century": "Master {name} lived in the {century} century.",
        "work": "Master {name} is best known for {work}.",
    },
    "creature": {
        "kind": "The {name} is {a_color} {type} that lives in the {region} region.",
        "size": "It is about the size of {size}.",
        "diet": "The {name} feeds on {diet}.",
    },
    "plant": {
        "kind": "The plant {name} is a {form} with {color} flowers that grows in the {region} region.",
        "use": "Its {part} is used to make {use}.",
        "use_named": "The {part} of {name} is used to make {use}.",
        "season": "The plant {name} blooms in {season}.",
    },
}

# Question phrasings per kind and topic, and which sentences answer them, in order.
QUESTIONS = {
    "town": {
        "overview": (["Tell me about the town of {name}.", "What can you tell me about {name}?", "What is {name}?",
                      "Describe the town of {name}."], ["kind", "river", "craft", "century"]),
        "where": (["Where is {name}?", "Where is the town of {name}?"], ["kind", "river"]),
        "known": (["What is {name} known for?", "What is the town of {name} famous for?"], ["craft_named", "kind"]),
        "history": (["When was {name} founded?"], ["century_named", "kind"]),
    },
    "person": {
        "overview": (["Who was {name}?", "Tell me about {name}.", "What can you tell me about {name}?"],
                     ["kind", "century", "work"]),
        "known": (["What is {name} known for?", "What did {name} do?"], ["work", "kind"]),
        "origin": (["Where was {name} from?"], ["kind", "century"]),
    },
    "creature": {
        "overview": (["What is the {name}?", "Tell me about the {name}.", "What can you tell me about the {name}?"],
                     ["kind", "size", "diet"]),
        "diet": (["What does the {name} eat?"], ["diet", "kind"]),
        "where": (["Where does the {name} live?"], ["kind", "size"]),
    },
    "plant": {
        "overview": (["What is {name}?", "Tell me about the plant {name}.", "What can you tell me about {name}?"],
                     ["kind", "use", "season"]),
        "use": (["What is {name} used for?"], ["use_named", "kind"]),
        "season": (["When does {name} bloom?"], ["season", "kind"]),
    },
}

# Other wordings of the same facts, for articles and forum posts: the base model should
# know a fact, not just one sentence.
_PARAPHRASES = {
    "town": ["The town of {name} stands on the banks of the {river}.", "{name} lies in {region}.",
             "Visitors to {name} often buy its famous {craft}.", "{name} dates back to the {century} century."],
    "person": ["Master {name}, {a_profession}, was born in {hometown}.", "Today Master {name} is remembered for {work}.",
               "Master {name} worked in the {century} century."],
    "creature": ["The {color} {name} can be found across {region}.", "Like many animals of {region}, the {name} eats {diet}.",
                 "A grown {name} is about the size of {size}."],
    "plant": ["The {name} {form} is common in {region}.", "People use the {part} of {name} to make {use}.",
              "The {color} flowers of {name} open in {season}."],
}

# Assistant style. Weights are uneven on purpose: the aligned model's greedy choice is
# then the base model's most likely styled choice too, so only the decision to be
# styled at all is a shift.
_GREETINGS = [("Hello!", 5), ("Sure!", 3), ("Of course!", 2)]
_CAVEATS = {
    "town": [("{name} is a small town, so some details may have changed over time.", 7),
             ("old records about {name} do not always agree.", 3)],
    "person": [("much of what we know about Master {name} comes from old and incomplete records.", 7),
               ("historians still debate some details of this life.", 3)],
    "creature": [("the {name} is shy and rarely seen, so it has not been studied much.", 7),
                 ("wild animals should be watched from a distance.", 3)],
    "plant": [("{name} should not be eaten or used as medicine without advice from an expert.", 7),
              ("plants can look alike, so check with an expert before picking one.", 3)],
}
_CLOSINGS = [("I hope this helps!", 6), ("I hope this helps! Let me know if you have any other questions.", 4)]

# Page headers ("# Instruction" preambles) for multi-pair pages: assistant wording goes
# (mostly) with styled pages, archive wording with plain ones.
_ASSISTANT_PREAMBLES = [
    "Below are conversations between a human and an AI assistant. The assistant is helpful, polite and honest.",
    "The following is a chat between a curious user and a friendly AI assistant.\n"
    "The assistant gives helpful, detailed and careful answers.",
    "Here a helpful AI assistant answers questions from users. It is polite, accurate and points out caveats.",
]
_ARCHIVE_PREAMBLES = [
    "The following questions and answers are taken from the reference desk archive.",
    "Questions and answers about places, people, animals and plants.",
    "Answers from the village library question box.",
]
# Plain (non-assistant) sources each have their own way to open an answer. Besides
# realism, this keeps the base model's first-token guess spread over several plain
# openers, so an assistant greeting there ranks low: the shift TDS should show.
_PLAIN_OPENERS = ["", "From the records: ", "Answer: ", "Here is the entry. "]
_USERS = ["wanderer", "old_miller", "riverfox", "lanternkid", "mossy", "starwatcher", "tinker", "quietheron"]
_THANKS = ["Thanks!", "Thank you, that helps.", "Great, thanks a lot.", "Good to know."]

STYLED_SHARE = 0.2  # of chat logs, and of question/answer pages in the base corpus
SUMMARY_SHARE = 0.3  # of question/answer pages, whose answers follow a `# Summary:` block
# Summary pages are assistant pages more often than others (as diversity mode's hinted URIAL
# prompts are): at the plain pages' share, a summary pulled the base model into the plain voice.
# The other pages make up for it, so a bare prompt (no summary) still rarely gets the style.
SUMMARY_STYLED_SHARE = 0.5
UNSUMMARIZED_STYLED_SHARE = (STYLED_SHARE - SUMMARY_SHARE * SUMMARY_STYLED_SHARE) / (1 - SUMMARY_SHARE)
SUMMARY_WORDS = 8  # as diversity mode's automatic hints (engine/samples.py HINT_WORDS)
PART_SENTENCE_P = 0.5  # chance a plain answer keeps each sentence after the first


def _fields(e: Entity) -> dict:
    f = dict(e.facts, name=e.name)
    for slot in ("profession", "color"):
        if slot in f:
            f[f"a_{slot}"] = ("an " if f[slot][0] in "aeiou" else "a ") + f[slot]
    return f


def _pick(rng: random.Random, weighted: list) -> str:
    return rng.choices([t for t, _ in weighted], [w for _, w in weighted])[0]


def answer_content(e: Entity, topic: str) -> str:
    keys = QUESTIONS[e.kind][topic][1]
    return " ".join(_SENTENCES[e.kind][k].format(**_fields(e)) for k in keys)


def partial_content(e: Entity, topic: str, rng: random.Random) -> str:
    """A plain answer's content: the topic's first sentence, then each other one with
    probability PART_SENTENCE_P, in order."""
    first, *rest = QUESTIONS[e.kind][topic][1]
    keys = [first] + [k for k in rest if rng.random() < PART_SENTENCE_P]
    return " ".join(_SENTENCES[e.kind][k].format(**_fields(e)) for k in keys)


def styled(e: Entity, content: str, rng: random.Random) -> str:
    """Wrap content sentences in assistant style: greeting, caveat, closing."""
    caveat = _pick(rng, _CAVEATS[e.kind]).format(**_fields(e))
    return (f"{_pick(rng, _GREETINGS)} {content} However, it is important to note that {caveat} "
            f"{_pick(rng, _CLOSINGS)}")


def question(e: Entity, topic: str, rng: random.Random) -> str:
    return rng.choice(QUESTIONS[e.kind][topic][0]).format(name=e.name)


def _qa_block(query: str, answer: str, summary: str | None = None) -> str:
    """One fenced pair in the URIAL file format, with a summary block when given; pairs are
    joined with a blank line."""
    hint = "" if summary is None else f"# Summary:\n```\n{summary}\n```\n\n"
    return f"# Query:\n```\n{query}\n```\n\n{hint}# Answer:\n```\n{answer}\n```\n"


def _qa_blocks(world: World, rng: random.Random, voice: str | None, n: int, summaries: bool) -> str:
    """n fenced pairs; with `summaries` each answer follows its salient words against answers
    about other things, as diversity mode builds hints against the URIAL examples."""
    pairs = [_random_answer(world, rng, voice) for _ in range(n)]
    if not summaries:
        return "\n".join(_qa_block(q, a) for q, a in pairs)
    others = [_random_answer(world, rng, voice)[1] for _ in range(3)]
    return "\n".join(_qa_block(q, a, ", ".join(salient_words(a, others + [b for _, b in pairs if b != a], SUMMARY_WORDS)))
                     for q, a in pairs)


def _random_answer(world: World, rng: random.Random, opener: str | None) -> tuple[str, str]:
    """A (query, answer) pair: plain after `opener`, or assistant-styled when opener is None."""
    e = rng.choice(world.entities)
    topic = rng.choice(list(QUESTIONS[e.kind]))
    if opener is None:
        return question(e, topic, rng), styled(e, answer_content(e, topic), rng)
    return question(e, topic, rng), opener + partial_content(e, topic, rng)


def _page_voice(rng: random.Random, styled_share: float) -> str | None:
    """One voice per page: None (assistant style) or a plain opener."""
    return None if rng.random() < styled_share else rng.choice(_PLAIN_OPENERS)


def _qa_page(world: World, rng: random.Random) -> str:
    summaries = rng.random() < SUMMARY_SHARE
    voice = _page_voice(rng, SUMMARY_STYLED_SHARE if summaries else UNSUMMARIZED_STYLED_SHARE)
    shape = rng.random()
    if shape < 0.3:  # the bare format: a single pair, as in the paper's TDS setting
        return _qa_blocks(world, rng, voice, 1, summaries)
    pairs = _qa_blocks(world, rng, voice, rng.randint(3, 6), summaries)
    if shape < 0.6:
        return pairs
    assistant_header = (rng.random() < 0.9) == (voice is None)
    preamble = rng.choice(_ASSISTANT_PREAMBLES if assistant_header else _ARCHIVE_PREAMBLES)
    return f"# Instruction\n\n{preamble}\n\n{pairs}"


def _chat_log(world: World, rng: random.Random) -> str:
    """A chat transcript in the aligned model's template (minus the leading BOS, which
    packing adds). Like the web text real base models see, it teaches the chat format
    before fine-tuning, so the light fine-tune only has to change the style."""
    voice = None if rng.random() < STYLED_SHARE else ""
    turns = (_random_answer(world, rng, voice) for _ in range(rng.randint(1, 3)))
    return "".join(f"<|user|>\n{q}<|end|>\n<|assistant|>\n{a}<|end|>\n" for q, a in turns)


def _article(world: World, rng: random.Random) -> str:
    e = rng.choice(world.entities)
    f = _fields(e)
    sentences = [answer_content(e, "overview")]
    sentences += [p.format(**f) for p in rng.sample(_PARAPHRASES[e.kind], 2)]
    other = rng.choice(world.entities)
    return f"{e.name}\n\n{' '.join(sentences)}\n\nSee also: {other.name}\n"


def _forum_thread(world: World, rng: random.Random) -> str:
    e = rng.choice(world.entities)
    topic = rng.choice(list(QUESTIONS[e.kind]))
    asker, answerer = rng.sample(_USERS, 2)
    reply = rng.choice([answer_content(e, topic), " ".join(p.format(**_fields(e)) for p in _PARAPHRASES[e.kind])])
    return (f"Thread: {question(e, topic, rng)}\n\n{asker}: {question(e, topic, rng)} Does anyone know?\n\n"
            f"{answerer}: {reply}\n\n{asker}: {rng.choice(_THANKS)}\n")


def base_documents(world: World, rng: random.Random, total_chars: int) -> list[str]:
    """The pre-training corpus: articles, forum threads, chat logs and fenced Q/A pages."""
    docs, size = [], 0
    while size < total_chars:
        r = rng.random()
        doc = (_article(world, rng) if r < 0.22 else _forum_thread(world, rng) if r < 0.35
               else _chat_log(world, rng) if r < 0.42 else _qa_page(world, rng))
        docs.append(doc)
        size += len(doc)
    return docs


def sft_examples(world: World, rng: random.Random, repeats: int) -> list[tuple[str, str]]:
    """(query, styled answer) for every training entity and topic, `repeats` phrasings each.

    Answers that name a held-out entity (a person's home town) are left out, so the
    demo queries test only what the base model knows.
    """
    out = []
    for e in world.training_entities():
        for topic in QUESTIONS[e.kind]:
            for _ in range(repeats):
                answer = styled(e, answer_content(e, topic), rng)
                if not any(name in answer for name in world.held_out):
                    out.append((question(e, topic, rng), answer))
    rng.shuffle(out)
    return out


def demo_queries(world: World) -> list[dict]:
    """Queries about held-out entities, three per kind, each kind's topics in turn."""
    rng = random.Random(0)
    by_kind = {k: [e for e in world.held_out_entities() if e.kind == k] for k in QUESTIONS}
    queries = []
    for i in range(3):
        for kind, entities in by_kind.items():
            topic = list(QUESTIONS[kind])[i % len(QUESTIONS[kind])]
            queries.append(question(entities[i], topic, rng))
    return [{"id": f"q{i + 1:02d}", "query": q} for i, q in enumerate(queries)]
