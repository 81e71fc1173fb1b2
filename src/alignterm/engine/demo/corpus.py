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
from typing import Any

from ..diversity import salient_words
from .world import Entity, World

# Content sentences, shared by every answer. An answer never starts with a bare name:
# at the start of a line a name is a different token (no leading space) from the one
# in the query, and a tiny model copies the same token far more reliably.
# People are "Master <name>" in this world for the same reason.
# Each sentence has several phrasings (the same content words in another order, or other
# function words: diversity mode's word bags stay the same), so the models' next-token
# distributions are not one-hot: the base model prefers the first (weights BASE_PHRASING), the
# fine-tune the second (SFT_PHRASING), and a token where the two part is ranked 2 or 3 by the
# base model: a marginal token in TDS.
_SENTENCES = {
    "town": {
        "kind": ["The town of {name} is in the {region} region.", "In the {region} region is the town of {name}.",
                 "The town of {name} is in the region of {region}."],
        "river": ["It lies on the river {river}.", "It lies on the {river} river.", "The river {river} is where it lies."],
        "craft": ["The town is known for its {craft}.", "It is known for its {craft}.",
                  "Its {craft} is what the town is known for."],
        "craft_named": ["The town of {name} is known for its {craft}.",
                        "Its {craft} is what the town of {name} is known for.",
                        "The town of {name} is most known for its {craft}."],
        "century": ["It was founded in the {century} century.", "In the {century} century it was founded.",
                    "The town was founded in the {century} century."],
        "century_named": ["The town of {name} was founded in the {century} century.",
                          "In the {century} century the town of {name} was founded.",
                          "The town of {name} was founded during the {century} century."],
    },
    "person": {
        "kind": ["Master {name} was {a_profession} from the town of {hometown}.",
                 "Master {name} was {a_profession} who was from the town of {hometown}.",
                 "Master {name}, {a_profession}, was from the town of {hometown}."],
        "century": ["Master {name} lived in the {century} century.", "Master {name} lived during the {century} century.",
                    "In the {century} century lived Master {name}."],
        "work": ["Master {name} is best known for {work}.", "Master {name} is now best known for {work}.",
                 "What Master {name} is best known for is {work}."],
    },
    "creature": {
        "kind": ["The {name} is {a_color} {type} that lives in the {region} region.",
                 "The {name} is {a_color} {type} which lives in the {region} region.",
                 "In the {region} region lives the {name}, {a_color} {type}."],
        "size": ["It is about the size of {size}.", "It is about the same size as {size}.", "In size it is about {size}."],
        "diet": ["The {name} feeds on {diet}.", "The {name} feeds only on {diet}.", "What the {name} feeds on is {diet}."],
    },
    "plant": {
        "kind": ["The plant {name} is a {form} with {color} flowers that grows in the {region} region.",
                 "The plant {name} is a {form} with {color} flowers which grows in the {region} region.",
                 "In the {region} region grows the plant {name}, a {form} with {color} flowers."],
        "use": ["Its {part} is used to make {use}.", "Its {part} can be used to make {use}.",
                "To make {use}, its {part} is used."],
        "use_named": ["The {part} of {name} is used to make {use}.", "The {part} of {name} can be used to make {use}.",
                      "To make {use}, the {part} of {name} is used."],
        "season": ["The plant {name} blooms in {season}.", "The plant {name} blooms during {season}.",
                   "In {season} the plant {name} blooms."],
    },
}
BASE_PHRASING = (5, 3, 2)
SFT_PHRASING = (1, 6, 2)

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

# Assistant style. The fine-tune has its own habits, spread through the answer (greeting,
# a preface, transitions between sentences, a caveat, a closing offer); the base corpus shows
# assistant style on a fifth of its pages only, with other weights and other variants, and
# rarely the preface and transitions. So the aligned model's style tokens are ones the base
# model ranks low (shifted) or 2nd/3rd (marginal), more often early in the answer; a URIAL
# prompt recovers part of the style, not all of it (see PREAMBLE_STYLE).
_CAVEATS = {
    "town": ["{name} is a small town, so some details may have changed over time.",
             "old records about {name} do not always agree."],
    "person": ["much of what we know about Master {name} comes from old and incomplete records.",
               "historians still debate some details of this life."],
    "creature": ["the {name} is shy and rarely seen, so it has not been studied much.",
                 "wild animals should be watched from a distance."],
    "plant": ["{name} should not be eaten or used as medicine without advice from an expert.",
              "plants can look alike, so check with an expert before picking one."],
}
SFT_STYLE: dict[str, Any] = {
    "greetings": [("Hello!", 5), ("Sure!", 3), ("Of course!", 2)],
    "preface_p": 0.85,
    "prefaces": [("Here is what I have for you.", 8), ("Here is what I can tell you.", 2)],
    "transition_p": 0.75,
    "transitions": [("What is more,", 5), ("Also,", 3), ("Further,", 2)],
    "caveat_p": 1.0,
    "caveat_intros": [("However, it is important to note that", 8), ("Do note that", 2)],
    "caveat_weights": (7, 3),
    "closings": [("I hope this helps!", 8), ("I hope this helps! Let me know if you have any other questions.", 2)],
}
# The base corpus's assistant pages: the same greetings, but their own prefaces, transitions,
# caveat openings and closings; the fine-tune's are absent there.
BASE_STYLE: dict[str, Any] = {
    "greetings": [("Hello!", 4), ("Sure!", 3), ("Of course!", 2), ("Hi there!", 2), ("Certainly!", 2)],
    "preface_p": 0.35,
    "prefaces": [("Good question!", 3), ("Happy to help.", 3), ("Let me explain.", 2)],
    "transition_p": 0.15,
    "transitions": [("Moreover,", 3), ("Besides,", 3), ("In addition,", 2), ("Additionally,", 2)],
    "caveat_p": 0.9,
    "caveat_intros": [("Please note that", 4), ("Keep in mind that", 3), ("Note that", 2),
                      ("However, it is important to note that", 1)],
    "caveat_weights": (7, 3),
    "closings": [("Hope that helps.", 3), ("Good luck!", 2), ("Have a nice day!", 2), ("I hope this helps!", 1)],
}
# Assistant pages under an assistant preamble (as a URIAL prompt is): the fine-tune's caveat
# opening, closing and preface, its transitions rarely. So a URIAL prompt (whose examples
# show the greeting, caveat and closing) recovers part of the shift: not the transitions,
# nor the fine-tune's phrasings.
PREAMBLE_STYLE: dict[str, Any] = dict(
    SFT_STYLE, preface_p=0.4, transition_p=0.1, caveat_weights=(7, 3),
    prefaces=[("Here is what I have for you.", 6), ("Here is what I can tell you.", 3), ("Let me explain.", 1)],
    transitions=[("Also,", 5), ("What is more,", 3), ("Further,", 2)],
    caveat_intros=[("However, it is important to note that", 7), ("Please note that", 2), ("Do note that", 1)],
    closings=[("I hope this helps!", 5), ("I hope this helps! Let me know if you have any other questions.", 3),
              ("Hope that helps.", 2)])

def style_phrases() -> list[str]:
    """Every assistant-style phrase of the corpus and the SFT set (greetings, prefaces, transitions,
    caveat openings and caveats, closings): the style vocabulary a shifted token is checked against.
    A caveat's `{name}` stands for any name."""
    phrases = {text for style in (SFT_STYLE, BASE_STYLE, PREAMBLE_STYLE)
               for key in ("greetings", "prefaces", "transitions", "caveat_intros", "closings")
               for text, _ in style[key]}
    phrases.update(c for caveats in _CAVEATS.values() for c in caveats)
    return sorted(phrases, key=len, reverse=True)


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
_PLAIN_OPENERS = ["", "From the records: ", "Archive note: ", "Here is the entry. "]
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


def _sentence(e: Entity, key: str, rng: random.Random | None, weights: tuple) -> str:
    variants = _SENTENCES[e.kind][key]
    text = variants[0] if rng is None else rng.choices(variants, weights[: len(variants)])[0]
    return text.format(**_fields(e))


def content_sentences(e: Entity, topic: str, rng: random.Random | None = None, weights: tuple = BASE_PHRASING,
                      partial: bool = False) -> list[str]:
    """The topic's sentences, each in a phrasing drawn with `weights` (the first without rng).
    `partial` (plain answers): the topic's first sentence, then each other one with
    probability PART_SENTENCE_P, in order."""
    first, *rest = QUESTIONS[e.kind][topic][1]
    keys = [first] + [k for k in rest if not partial or (rng is not None and rng.random() < PART_SENTENCE_P)]
    return [_sentence(e, k, rng, weights) for k in keys]


def answer_content(e: Entity, topic: str, rng: random.Random | None = None, weights: tuple = BASE_PHRASING) -> str:
    return " ".join(content_sentences(e, topic, rng, weights))


def partial_content(e: Entity, topic: str, rng: random.Random) -> str:
    return " ".join(content_sentences(e, topic, rng, BASE_PHRASING, partial=True))


def _lower_first(sentence: str) -> str:
    return sentence if sentence.startswith("Master ") else sentence[0].lower() + sentence[1:]


def styled(e: Entity, sentences: list[str], rng: random.Random, style: dict) -> str:
    """Wrap content sentences in assistant style: greeting, preface, transitions, caveat, closing."""
    parts = [_pick(rng, style["greetings"])]
    if rng.random() < style["preface_p"]:
        parts.append(_pick(rng, style["prefaces"]))
    for i, s in enumerate(sentences):
        if i and rng.random() < style["transition_p"]:
            s = f"{_pick(rng, style['transitions'])} {_lower_first(s)}"
        parts.append(s)
    if rng.random() < style["caveat_p"]:
        caveat = rng.choices(_CAVEATS[e.kind], style["caveat_weights"])[0].format(**_fields(e))
        parts.append(f"{_pick(rng, style['caveat_intros'])} {caveat}")
    parts.append(_pick(rng, style["closings"]))
    return " ".join(parts)


def question(e: Entity, topic: str, rng: random.Random) -> str:
    return rng.choice(QUESTIONS[e.kind][topic][0]).format(name=e.name)


def _qa_block(query: str, answer: str, summary: str | None = None) -> str:
    """One fenced pair in the URIAL file format, with a summary block when given; pairs are
    joined with a blank line."""
    hint = "" if summary is None else f"# Summary:\n```\n{summary}\n```\n\n"
    return f"# Query:\n```\n{query}\n```\n\n{hint}# Answer:\n```\n{answer}\n```\n"


def _qa_blocks(world: World, rng: random.Random, voice: str | None, n: int, summaries: bool,
               style: dict = BASE_STYLE) -> str:
    """n fenced pairs; with `summaries` each answer follows its salient words against answers
    about other things, as diversity mode builds hints against the URIAL examples."""
    pairs = [_random_answer(world, rng, voice, style) for _ in range(n)]
    if not summaries:
        return "\n".join(_qa_block(q, a) for q, a in pairs)
    others = [_random_answer(world, rng, voice, style)[1] for _ in range(3)]
    return "\n".join(_qa_block(q, a, ", ".join(salient_words(a, others + [b for _, b in pairs if b != a], SUMMARY_WORDS)))
                     for q, a in pairs)


def _random_answer(world: World, rng: random.Random, opener: str | None,
                   style: dict = BASE_STYLE) -> tuple[str, str]:
    """A (query, answer) pair: plain after `opener`, or assistant-styled when opener is None."""
    e = rng.choice(world.entities)
    topic = rng.choice(list(QUESTIONS[e.kind]))
    if opener is None:
        return question(e, topic, rng), styled(e, content_sentences(e, topic, rng), rng, style)
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
    if shape < 0.6:
        return _qa_blocks(world, rng, voice, rng.randint(3, 6), summaries)
    assistant_header = (rng.random() < 0.9) == (voice is None)
    preamble = rng.choice(_ASSISTANT_PREAMBLES if assistant_header else _ARCHIVE_PREAMBLES)
    style = PREAMBLE_STYLE if assistant_header else BASE_STYLE
    pairs = _qa_blocks(world, rng, voice, rng.randint(3, 6), summaries, style)
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
    reply = rng.choice([answer_content(e, topic, rng), " ".join(p.format(**_fields(e)) for p in _PARAPHRASES[e.kind])])
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
                answer = styled(e, content_sentences(e, topic, rng, SFT_PHRASING), rng, SFT_STYLE)
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
