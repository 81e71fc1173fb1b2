"""A small synthesized world of invented entities and their facts.

The demo models know nothing but this world. Every entity has four facts drawn
from short closed lists, so a ~2M-parameter model can memorize them; the names
are invented so that no real-world knowledge is needed (or possible).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

KINDS = ("town", "person", "creature", "plant")
PER_KIND = 50
HELD_OUT_PER_KIND = 5  # never in SFT answers nor URIAL examples; the demo queries use them

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gr", "kr", "tr", "sk", "th", "sh"]
_VOWELS = ["a", "e", "i", "o", "u", "a", "e", "o", "ai", "ei"]
_CODAS = ["", "", "", "n", "r", "l", "s", "m"]
_AVOID = ("domain", "shit", "nazi")  # real words the syllables happen to spell

WORLD_SEED = 2024
REGIONS_N = 8
RIVERS_N = 10

CENTURIES = ["ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth"]
CRAFTS = ["copper bells", "blue glass", "woolen blankets", "paper lanterns", "clay pipes", "river boats",
          "honey cakes", "silver needles", "wooden toys", "salt fish", "stone bridges", "wind mills"]
PROFESSIONS = ["astronomer", "cartographer", "poet", "engineer", "botanist", "composer", "physician", "architect"]
WORKS = ["the first water clock", "a map of the northern coast", "a book of songs about the sea",
         "a bridge that still stands today", "a long study of mountain herbs", "a guide to the winter stars",
         "a new kind of sailing boat", "a famous treatise on medicine", "a tower built without nails",
         "a collection of old folk tales"]
CREATURE_TYPES = ["bird", "lizard", "fish", "beetle", "moth", "deer", "frog", "snail"]
COLORS = ["red", "blue", "green", "yellow", "grey", "black", "white", "brown", "orange", "purple"]
DIETS = ["small insects", "seeds and berries", "river weeds", "fallen fruit", "tiny worms", "tree bark",
         "flower nectar", "small fish"]
SIZES = ["a coin", "a hand", "a cat", "a loaf of bread", "a goat", "a thumb"]
PLANT_FORMS = ["shrub", "tree", "herb", "vine", "moss", "reed"]
USES = ["a red dye", "a bitter tea", "a healing salve", "strong rope", "a sweet perfume", "cough syrup",
        "a yellow dye", "baskets"]
PARTS = ["root", "bark", "leaf", "seed", "flower", "stem"]
SEASONS = ["early spring", "late spring", "midsummer", "late summer", "autumn", "winter"]


@dataclass(frozen=True)
class Entity:
    """One invented thing: its kind, name and facts (a mapping of slot to value)."""

    kind: str
    name: str
    facts: dict = field(hash=False)


@dataclass(frozen=True)
class World:
    entities: list
    regions: list
    rivers: list
    held_out: frozenset  # names of the held-out entities

    def training_entities(self) -> list:
        return [e for e in self.entities if e.name not in self.held_out]

    def held_out_entities(self) -> list:
        return [e for e in self.entities if e.name in self.held_out]


def _names(rng: random.Random, n: int, taken: set) -> list[str]:
    """Pronounceable invented names, unique across the world."""
    out: list[str] = []
    while len(out) < n:
        syllables = rng.choice([2, 2, 3])
        name = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables))
        if 4 <= len(name) <= 10 and name not in taken and not any(a in name for a in _AVOID):
            taken.add(name)
            out.append(name.capitalize())
    return out


def make_world() -> World:
    """The one demo world. Its seed is fixed (not the build seed): the bundled URIAL
    examples and demo queries name its entities, so every build must share it."""
    rng = random.Random(WORLD_SEED)
    taken: set = set()
    regions = _names(rng, REGIONS_N, taken)
    rivers = _names(rng, RIVERS_N, taken)
    towns = _names(rng, PER_KIND, taken)
    entities: list = []
    for name in towns:
        entities.append(Entity("town", name, {
            "region": rng.choice(regions), "river": rng.choice(rivers),
            "craft": rng.choice(CRAFTS), "century": rng.choice(CENTURIES)}))
    for name in _names(rng, PER_KIND, taken):
        entities.append(Entity("person", name, {
            "profession": rng.choice(PROFESSIONS), "hometown": rng.choice(towns),
            "work": rng.choice(WORKS), "century": rng.choice(CENTURIES)}))
    for name in _names(rng, PER_KIND, taken):
        entities.append(Entity("creature", name, {
            "type": rng.choice(CREATURE_TYPES), "color": rng.choice(COLORS),
            "region": rng.choice(regions), "diet": rng.choice(DIETS), "size": rng.choice(SIZES)}))
    for name in _names(rng, PER_KIND, taken):
        entities.append(Entity("plant", name, {
            "form": rng.choice(PLANT_FORMS), "color": rng.choice(COLORS), "region": rng.choice(regions),
            "part": rng.choice(PARTS), "use": rng.choice(USES), "season": rng.choice(SEASONS)}))
    held_out: set[str] = set()
    for kind in KINDS:
        held_out.update(e.name for e in rng.sample([e for e in entities if e.kind == kind], HELD_OUT_PER_KIND))
    return World(entities, regions, rivers, frozenset(held_out))
