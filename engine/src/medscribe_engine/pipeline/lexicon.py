"""Built-in medical lexicons: words of a specialty that the model splits or misspells, repaired in every job.

A :class:`Lexicon` per ``Specialty`` (:data:`SPECIALTY_CODES`) is built at start-up from packages of the
engine's environment (:func:`build_lexicons`, offline):

* the words of the drug names of drug-named-entity-recognition that have a MedlinePlus or NHS page,
  generic and brand ("furosemide", "lasix"), in every specialty (:func:`drug_names`);
* the words of the ICD-10-CM titles (simple-icd-10-cm) of the specialty's chapters and blocks.

medspaCy ships no term list (its ConText and section rules are cue phrases), so nothing is taken from it.
A word is kept when it has ``letters`` (:class:`LexiconParams`) letters or more and the model's tokenizer spells it
with more than one token: a one-token word ("insulin", "asthma", "hypertension") is one the model writes
whole. Every word of the sources, kept or not, is never replaced when recognized.

After recognition (and the custom vocabulary's pass), :func:`apply_lexicon` repairs the words with no
decode: a run of 2 to ``run`` words whose letters spell a lexicon word is joined ("Metform in"
-> "metformin"), and a word less likely than ``trigger`` that sounds like a drug name of the
lexicon (the same :func:`sound_key`) and is spelled like it is respelled ("lassicks" -> "lasix").
ICD-10-CM words are not respelled (on train "tater" became "titer", "lowish" "louis" of St. Louis
encephalitis). Decoding runs that look like lexicon words again with lexicon words as hotwords, as the
custom vocabulary does, was measured and not adopted (bench/asr/README.md): it kept 1-2 words per 6
minutes of audio for 60-230 % more recognition time, and changed "hypertension" into "hypotension".
"""

from __future__ import annotations

import bz2
import functools
import logging
import pickle
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from importlib.util import find_spec
from pathlib import Path

from medscribe_engine.pipeline.tokens import split_edges
from medscribe_engine.pipeline.vocabulary import spelling_key

log = logging.getLogger("medscribe_engine")

# ICD-10-CM chapters and blocks per Specialty (first three characters of a code, inclusive ranges). Batch
# jobs are PRIMARYCARE (the only batch specialty AWS accepts: diseases and symptoms, chapters A-N and R);
# the others are for streaming. Every specialty also holds the drug names.
SPECIALTY_CODES: dict[str, tuple[str, ...]] = {
    "PRIMARYCARE": ("A00-N99", "R00-R99"),
    "CARDIOLOGY": ("I00-I99", "E78-E78", "Q20-Q28", "R00-R09"),
    "NEUROLOGY": ("G00-G99", "F01-F09", "I60-I69", "Q00-Q07", "R25-R29", "R40-R47", "R51-R56"),
    "ONCOLOGY": ("C00-D49", "D50-D89", "R59-R59", "R63-R64"),
    "RADIOLOGY": ("M00-M99", "Q00-Q99", "R90-R94", "S00-T14"),
    "UROLOGY": ("N00-N99", "C60-C68", "Q50-Q64", "R30-R39", "R80-R82"),
}
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class LexiconParams:
    """The lexicon's tuned values (chosen on the benchmark corpora, ``bench/asr/README.md``, History)."""

    letters: int = 5  # "lasix"; shorter words look like too many common ones
    run: int = 4  # words of one split word at most ("a tor va statin")
    trigger: float = 0.6  # a word at least this likely is not respelled (as the custom vocabulary's pass)
    respell_run: int = 1  # one word is respelled: longer runs made common speech drug names on train
    sound: float = (
        1.0  # difflib ratio of the sound keys with a drug name (1.0: the same key; looser misfired)
    )
    respell: float = 0.6  # difflib ratio of the letters with that drug name: "lassicks" / "lasix" 0.62


DEFAULTS = LexiconParams()


class Lexicon:
    """The words of one specialty, by spelling and by sound.

    :param specialty: the ``Specialty`` it serves.
    :param words: lower-case words (letters only).
    :param key: the sound key of a word (:func:`sound_key`; a cached one when several lexicons are built).
    :param medical: the sources' words left out of ``words`` (one-token words such as "hypertension"): a
        recognized one is never replaced.
    :param is_common: whether the model's tokenizer writes a word as one token (never respelled).
    :param respelled: the words a near spelling is respelled as (default ``words``): the drug names.
    """

    def __init__(
        self,
        specialty: str,
        words: Iterable[str],
        key: Callable[[str], str] | None = None,
        medical: Iterable[str] = (),
        is_common: Callable[[str], bool] = lambda word: False,
        respelled: Iterable[str] | None = None,
    ):
        self.specialty = specialty
        self.words = sorted({word for word in words if _WORD.fullmatch(word)})
        self.spellings = set(self.words)
        self.kept = self.spellings | set(medical)  # recognized words that are medical already
        self.is_common = is_common
        self.by_key: dict[str, list[str]] = {}
        for word in self.words if respelled is None else sorted(self.spellings.intersection(respelled)):
            self.by_key.setdefault((key or sound_key)(word), []).append(word)

    def __len__(self) -> int:
        return len(self.words)

    def sounds_like(self, letters: str, params: LexiconParams = DEFAULTS) -> tuple[float, str] | None:
        """(spelling ratio, word) of the respelled word most like ``letters`` in sound (:func:`sound_key`
        difflib ratio ``sound`` or more) and spelling (``respell`` or more), if any: "lassicks" ->
        "lasix" (the same key, 0.62), "motoring" -> "motrin" (keys 0.89, 0.86)."""
        key = sound_key(letters)
        best = None
        for term_key, terms in self.by_key.items():
            if term_key[:1] != key[:1] or not 0.75 <= len(term_key) / max(1, len(key)) <= 1.34:
                continue
            if SequenceMatcher(None, key, term_key).ratio() < params.sound:
                continue
            for term in terms:
                ratio = SequenceMatcher(None, letters, term).ratio()
                if ratio >= params.respell and term != letters and (best is None or ratio > best[0]):
                    best = (ratio, term)
        return best


# A crude English sound key: spellings of one sound made one letter, voiced and voiceless pairs merged
# (tiny.en hears "d" for "t", "b" for "p"), vowels after the first letter and doubled letters dropped.
_SOUNDS = (
    ("ph", "f"), ("gh", "g"), ("ck", "k"), ("sch", "sk"), ("ch", "k"), ("qu", "kw"), ("q", "k"), ("x", "ks"),
    ("c(?=[eiy])", "s"), ("c", "k"), ("z", "s"), ("v", "f"), ("b", "p"), ("d", "t"), ("g", "k"), ("w", ""),
    ("h", ""), ("y", "i"),
)  # fmt: skip
_SOUND_RULES = [(re.compile(pattern), sound) for pattern, sound in _SOUNDS]


def sound_key(letters: str) -> str:
    """The consonant skeleton of ``letters`` as heard: "lisinopril" -> "lsnprl", "likeinareal" -> "lknrl"."""
    key = letters
    for pattern, sound in _SOUND_RULES:
        key = pattern.sub(sound, key)
    if not key:
        return key
    key = key[0] + re.sub(r"[aeiou]", "", key[1:])
    return re.sub(r"(.)\1+", r"\1", key)


def _in_ranges(head: str, ranges: tuple[str, ...]) -> bool:
    return any(low <= head <= high for low, high in (r.split("-") for r in ranges))


def _drug_words(drugs: Iterable[str]) -> set[str]:
    return {word for name in drugs for word in _WORD.findall(name.lower())}


def _icd_words(by_head: dict[str, set[str]], ranges: tuple[str, ...]) -> set[str]:
    return {word for head, words in by_head.items() if _in_ranges(head, ranges) for word in words}


def _kept(words: set[str], is_common: Callable[[str], bool], params: LexiconParams) -> set[str]:
    return {word for word in words if len(word) >= params.letters and not is_common(word)}


def tokenizer_common(tokenizer) -> Callable[[str], bool]:
    """Whether the model's tokenizer (a ``tokenizers.Tokenizer``) spells `` word`` with one token."""

    def common(word: str) -> bool:
        return len(tokenizer.encode(" " + word, add_special_tokens=False).ids) <= 1

    return common


def drug_names() -> set[str]:
    """The words of the drug names of drug-named-entity-recognition that have a MedlinePlus or NHS page:
    generic and brand names ("furosemide", "lasix"), without the other languages' spellings of a name
    ("metformina", "metforminum", "cimetidin": a variant word ending otherwise than its drug's own word)."""
    spec = find_spec("drug_named_entity_recognition")
    if spec is None or spec.origin is None:
        raise ImportError("drug-named-entity-recognition is not installed")
    # the package's own data file, read as the package reads it (importing the package builds fuzzy indexes)
    with bz2.open(Path(spec.origin).parent / "drug_ner_dictionary.pkl.bz2", "rb") as handle:
        data = pickle.load(handle)
    canonical = data["drug_canonical_to_data"]
    named = {name for name, info in canonical.items() if info.get("medline_plus_id") or info.get("nhs_url")}
    words: set[str] = set()
    for variant, names in data["drug_variant_to_canonical"].items():
        own = {word for name in names if name in named for word in _WORD.findall(name)}
        if not own:
            continue
        for word in _WORD.findall(variant.lower()):
            if word in own or not any(_respelled(word, name) for name in own):
                words.add(word)
    return words


def _respelled(word: str, name: str) -> bool:
    """``word`` is ``name`` with another ending (its stem and at most 3 letters more or fewer)."""
    stem = min(len(word), len(name)) - 2
    return stem >= 5 and word[:stem] == name[:stem] and abs(len(word) - len(name)) <= 3


def build_lexicons(
    tokenizer, specialties: Iterable[str] = tuple(SPECIALTY_CODES), params: LexiconParams = DEFAULTS
) -> dict[str, Lexicon]:
    """A :class:`Lexicon` per specialty from the packages (drug-named-entity-recognition,
    simple-icd-10-cm), words the model's ``tokenizer`` writes as one token left out; sizes and time logged."""
    import simple_icd_10_cm as cm

    started = time.monotonic()
    drugs = _drug_words(drug_names())
    by_head: dict[str, set[str]] = {}
    for code in cm.get_all_codes(False):
        by_head.setdefault(code[:3], set()).update(_WORD.findall(cm.get_description(code).lower()))
    common = functools.lru_cache(maxsize=None)(tokenizer_common(tokenizer))
    keys = functools.lru_cache(maxsize=None)(sound_key)
    lexicons = {}
    for specialty in specialties:
        words = drugs | _icd_words(by_head, SPECIALTY_CODES[specialty])
        medical = {word for word in words if len(word) >= 3}
        lexicons[specialty] = Lexicon(specialty, _kept(words, common, params), keys, medical, common, drugs)
    log.info(
        "medical lexicons built in %.1fs: %s",
        time.monotonic() - started,
        ", ".join(f"{name} {len(lexicon)} words" for name, lexicon in lexicons.items()),
    )
    return lexicons


def join_split_words(words: list, lexicon: Lexicon, params: LexiconParams = DEFAULTS) -> tuple[list, int]:
    """``words`` (faster-whisper words) with each run of 2 to ``run`` words whose letters spell a lexicon
    word exactly made that one word (its first word's times and case, the last word's punctuation, the
    lowest probability); and how many runs were joined."""
    run = params.run
    out: list = []
    joined = 0
    i = 0
    while i < len(words):
        for size in range(min(run, len(words) - i), 1, -1):
            piece = words[i : i + size]
            letters = spelling_key("".join(w.word for w in piece))
            if letters in lexicon.spellings:
                lead, core, _trail = split_edges(piece[0].word.lstrip())
                trail = split_edges(piece[-1].word)[2]
                word = letters.capitalize() if core[:1].isupper() else letters
                space = piece[0].word[: len(piece[0].word) - len(piece[0].word.lstrip())]
                text = f"{space}{lead}{word}{trail}"
                probability = min(w.probability for w in piece)
                out.append(replace(piece[0], word=text, end=piece[-1].end, probability=probability))
                joined += 1
                i += size
                break
        else:
            out.append(words[i])
            i += 1
    return out, joined


def respell(words: list, lexicon: Lexicon, params: LexiconParams = DEFAULTS) -> tuple[list, int]:
    """``words`` with each run of 1 to ``respell_run`` words holding a word less likely than ``trigger``
    (and no lexicon, medical or, alone, one-token word) that sounds like a drug name of the lexicon (their
    :func:`sound_key` difflib ratio ``sound`` or more) and is spelled like it (ratio ``respell`` or more)
    written as that drug name, with no decode ("lassicks" -> "lasix"); and how many runs were."""
    trigger = params.trigger
    keys = [spelling_key(w.word) for w in words]
    stop = [key in lexicon.kept for key in keys]
    out: list = []
    count = 0
    i = 0
    while i < len(words):
        best: tuple[float, int, str] | None = None
        for size in range(1, params.respell_run + 1):
            run = range(i, min(i + size, len(words)))
            if (
                len(run) < size
                or any(stop[k] for k in run)
                or min(words[k].probability for k in run) >= trigger
            ):
                continue
            letters = "".join(keys[k] for k in run)
            if len(letters) < params.letters or (size == 1 and lexicon.is_common(letters)):
                continue
            found = lexicon.sounds_like(letters, params)
            if found and (best is None or found[0] > best[0]):
                best = (found[0], size, found[1])
        if best is None:
            out.append(words[i])
            i += 1
            continue
        piece = words[i : i + best[1]]
        lead, core, _trail = split_edges(piece[0].word.lstrip())
        term = best[2].capitalize() if core[:1].isupper() else best[2]
        space = piece[0].word[: len(piece[0].word) - len(piece[0].word.lstrip())]
        text = f"{space}{lead}{term}{split_edges(piece[-1].word)[2]}"
        probability = min(w.probability for w in piece)
        out.append(replace(piece[0], word=text, end=piece[-1].end, probability=probability))
        count += 1
        i += best[1]
    return out, count


def apply_lexicon(recognizer, words: list, lexicon: Lexicon, params: LexiconParams = DEFAULTS) -> list:
    """``words`` (faster-whisper words) with split lexicon words joined (:func:`join_split_words`) and
    near spellings respelled (:func:`respell`); the count goes to ``recognizer.lexicon_repaired``."""
    words, joined = join_split_words(words, lexicon, params)
    words, respelled = respell(words, lexicon, params)
    recognizer.lexicon_repaired += joined + respelled
    return words
