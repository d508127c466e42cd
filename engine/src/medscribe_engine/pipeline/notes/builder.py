"""The note builder: transcript segments -> HealthScribe ``ClinicalDocumentation``, by extraction.

No clinical language model runs here. Each segment is split into sentences (pysbd); each sentence is
cleaned and sorted into one *kind* (:mod:`.templates`) by lexical rules over what it says and who says
it; the kept sentences are rewritten in the third person (:mod:`.rewrite`) with the patient's pronouns,
and every one keeps ``EvidenceLinks`` to the segments it came from. Two more sentence forms exist:

* a clinician's yes/no question answered by the patient: "Any chest pain?" - "No." becomes
  "<They> deny chest pain." (REVIEW_OF_SYSTEMS), "You're still on metformin?" - "Yes." becomes "<They>
  are still on <their> metformin." (HISTORY_OF_PRESENT_ILLNESS); evidence: both segments;
* the chief complaint, the words after "presents (today) with / is here for" in the clinician's
  introduction.

Guards: questions are never written as findings; a sentence that would assert something its evidence
negates (:func:`asserted_negations`, and the NEGATION trait of a ClinicalInsight over its segments) is
dropped; segments of the sections OTHER / VISIT_FLOW_MANAGEMENT (when the sections stage has set them)
and sentences with too few content words are not used. An empty transcript, silence or small talk give
sections with empty summaries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from medscribe_engine.pipeline.notes.rewrite import (
    DEFAULT_PRONOUNS,
    NEGATION_CUES,
    PRONOUNS,
    Pronouns,
    clean_tokens,
    rewrite,
    split_clitics,
    tokenize,
)
from medscribe_engine.pipeline.notes.templates import DEFAULT_TEMPLATE, HP_FOLD, TEMPLATES

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just let me more most my myself
    of off on once only or other our ours ourselves out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself yourselves okay ok
    yeah yes uh um oh well like really right alright know think get got go going gon na wan want kind sort
    thing things something anything stuff lot little bit mean guess maybe sure good great fine thank thanks
    pretty now today just see let's 're 've 'll 'd 'm 's n't cause 'cause us hi hello hey morning afternoon
    """.split()
)
NOTE_WORDS = frozenset(
    """patient denies deny reports report he she they him her them his hers their theirs himself herself
    themselves has does is are was were have going to not will would""".split()
)  # words the rewrite may add that need no evidence
TERMINATORS = frozenset({",", ".", ";", "?", "!", "but", "however", "though", "although", "except", "and"})

INTRO = re.compile(
    r"\b(\d+|[a-z]+(?:-[a-z]+)*)-year-old\b|\bpresents?\b|\bhere (?:today )?for\b"
    r"|\bcoming in (?:today )?for\b"
)
COMPLAINT = re.compile(
    r"\b(?:presents?|presenting|is here|coming in|comes in|in)\s+(?:today\s+|here\s+)?(?:with|for)\s+"
    r"(?:an?\s+|some\s+|his\s+|her\s+|their\s+)?(?:chief complaint of\s+)?(?P<what>[^.?!]+)"
)
TESTS = re.compile(
    r"\b(x-?rays?|mri|ct|cat scan|ultrasound|echo(?:cardiogram)?|ekg|ecg|labs?|blood ?work|a1c|hemoglobin|"
    r"results?|cholesterol|biopsy|culture|urinalysis|urine|scans?|imaging|stress test|colonoscopy|mammogram|"
    r"levels?|panel|cbc|glucose|creatinine|potassium|thyroid|tsh|pft|spirometry|cultures?|swab|test)\b"
)
RESULT = re.compile(
    r"\b(shows?|showed|shown|reveal(?:s|ed)?|came back|demonstrat\w*|normal|abnormal|elevated|high|low|"
    r"negative|positive|unremarkable|within|fracture|was|were|look(?:s|ed)?|read)\b"
)
EXAM = re.compile(
    r"\b(exam|examination|examine|palpat\w*|tender\w*|murmur|lungs?|auscultat\w*|range of motion|swelling|"
    r"edema|rash|reflex\w*|pulses?|vital signs?|vitals|blood pressure|heart rate|temperature|oxygen|bruit|"
    r"gallop|wheez\w*|crackles|rales|appreciate|strength|sensation|abdomen|non-?tender|lymph\w*|erythema|"
    r"effusion|bruising|inspection|lesion|neuro\w*|heart sounds?|regular rate|rhythm|gait|flexion|"
    r"extension|straight leg|capillary refill)\b"
)
ASSESS = re.compile(
    r"\b(impression|diagnos\w*|consistent with|i think (?:you|that|this|it|your|he|she|they)|i suspect|"
    r"likely|sounds like|looks like (?:you|it|this)|(?:first|second|third|next|last) problem|"
    r"in regards? to|regarding|(?:well|poorly|un)[- ]?controlled|stable|assessment|"
    r"(?:you|he|she|they) (?:have|has) (?:an?|some) \w+|you (?:also )?have (?!to\b|been\b|any\b|had\b))\b"
)
PLAN_STRONG = re.compile(
    r"\b(i(?:'m| am)? (?:going to|want|would like|will|'ll|recommend|'d like)|"
    r"we(?:'re| are)? (?:going to|will|"
    r"'ll|can|should|need to)|let's|prescrib\w*|refer\w*|follow[- ]?up|order(?:ed)?|schedule\w*|recommend\w*|"
    r"come back|see (?:you|him|her|them) (?:back|again|in)|physical therapy|refill\w*)\b"
)
PLAN_WEAK = re.compile(
    r"\b(start\w*|continu\w*|increas\w*|decreas\w*|medication|dose|mg|milligrams|twice|once a day|daily|"
    r"injection|therapy|appointment|monitor\w*|plan|treatment|avoid|ice|rest|brace|surgery)\b"
)
PMH = re.compile(
    r"\b(history of|diagnosed|surger(?:y|ies)|operation|years ago|hospitali[sz]ed|had (?:a|an) \w+ "
    r"(?:replacement|repair|removed|removal|surgery)|medical history)\b"
)
PFH = re.compile(
    r"\b(family|mother|mom|father|dad|sister|brother|grand(?:mother|father|ma|pa|parents?)|aunt|uncle|"
    r"parents|runs in)\b"
)
PSH = re.compile(
    r"\b(smok\w*|cigarettes?|tobacco|vape|alcohol|drinks?|drinking|beer|wine|marijuana|"
    r"work(?:s|ing)? (?:as|at|in)|"
    r"job|retired|married|lives? (?:with|alone|in)|occupation)\b"
)
CLINICIAN_HISTORY = re.compile(
    r"\b(you(?:'ve| have) been|you had|you mentioned|you said|you were|you've had|you told|you noticed|"
    r"you started|you felt|you have (?:a )?history)\b"
)
SYMPTOM = re.compile(
    r"\b(pain\w*|hurts?|hurting|ache\w*|tired|fatigue\w*|winded|short of breath|cough\w*|fever\w*|nause\w*|"
    r"vomit\w*|dizz\w*|swell\w*|swollen|numb\w*|tingl\w*|sore|rash|itch\w*|bleed\w*|sleep\w*|weak\w*|"
    r"check|medications?|take|taking|pills?|inhaler|mg|diabetes|pressure|sugar\w*)\b"
)
REPORTED = re.compile(r"\b(denies|denied|endorses|endorsed|complains? of|reports?|reported)\b")
GOAL = re.compile(r"\b(i want to|i'd like to|i would like to|my goal|i hope|i'm hoping|i am hoping|goal)\b")
PROGRESS = re.compile(
    r"\b(better|worse|improv\w*|since (?:the )?last|progress|getting|decreased|increased|more|less|"
    r"no longer|anymore)\b"
)
INTERVENTION = re.compile(
    r"\b(we (?:talked|discussed|practiced|went over|reviewed|worked|tried|did)|"
    r"i (?:gave|showed|explained|taught|"
    r"reviewed|provided|demonstrated)|today we|we've been working)\b"
)
ASSISTANT = re.compile(
    r"^(?:hey,? )?(?:dragon|dax)\b"
)  # commands to a dictation assistant, not to the patient
QUESTION_CUE = re.compile(
    r"\b(?:any|do you have|have you (?:had|noticed|been having|experienced|ever had)|are you having|"
    r"did you have|did you notice|any history of)\s+(?P<what>.+)$"
)
CONFIRMATION = re.compile(
    r"^(?:and |so |okay |now )*(?:are you|you(?:'re| are| have| 've| were| had| still))\b"
)
NO_WORDS = r"no|nope|not really|none|never|nah|not at all"
YES_WORDS = r"yes|yeah|yep|yup|mm-hmm|uh-huh|i do|i have|correct|that's right|that is right|right"
NO_ANSWER = re.compile(rf"^(?:{NO_WORDS})\b")
YES_ANSWER = re.compile(rf"^(?:{YES_WORDS})\b")
QUESTION_TAILS = re.compile(
    r"\s*(?:,?\s*(?:at all|lately|recently|or anything(?: like that)?|or anything else|or so|right now|"
    r"that you(?:'ve| have)? noticed|that you know of))+$"
)


KIND_PRIOR = {
    "CHIEF_COMPLAINT": 1.0,
    "REVIEW_OF_SYSTEMS": 0.3,
    "PHYSICAL_EXAMINATION": 0.1,
    "DIAGNOSTIC_TESTING": 0.1,
    "ASSESSMENT": 0.1,
}


@dataclass
class NoteParams:
    """The builder's thresholds (tuned on ACI-Bench train, ``bench/notes/run.py --tune``)."""

    min_patient_content: int = 4  # content words for a patient sentence to enter the HPI
    min_clinician_content: int = 2  # content words for a clinician sentence to be used
    max_words: int | None = None  # longer sentences are left out (None: no limit; notes liked long ones)
    intro_position: float = 0.5  # the introduction / chief complaint is looked for in this first share
    qa_answer_words: int = 4  # a yes/no answer is at most this long (words) to make a Q/A sentence
    use_clinician_history: bool = True  # "you've been having ..." statements into the HPI
    min_density: float = 0.25  # share of content words a sentence needs (patient HPI, clinician plan)
    max_note_words: int | None = 750  # past this many words, the least informative sentences are dropped


@dataclass
class Utterance:
    segment_id: str
    speaker: str  # CLINICIAN | PATIENT
    text: str
    section: str | None
    position: float  # 0..1 through the conversation
    index: int  # order of the sentence in the conversation
    is_question: bool = False


@dataclass
class NoteSentence:
    kind: str
    text: str
    evidence: list[str]
    index: int
    sources: list[Utterance] = field(default_factory=list)


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def split_sentences(text: str) -> list[str]:
    text = text.strip()
    if not text:
        return []
    return [part.strip() for part in _segmenter().segment(text) if part.strip()]


def speaker_of(role: str | None) -> str:
    return "PATIENT" if (role or "").upper().startswith("PATIENT") else "CLINICIAN"


def content_words(text: str) -> list[str]:
    return [
        t.lower()
        for t in clean_tokens(tokenize(text))
        if re.search(r"[a-z0-9]", t.lower()) and t.lower() not in STOPWORDS and (len(t) > 2 or t.isdigit())
    ]


TAG_QUESTION = re.compile(
    r",?\s*\b(?:okay|ok|right|alright|all right|yeah|does that sound good|sound good|sounds good|"
    r"is that okay|is that all right|does that make sense|you know)\s*\?$",
    re.IGNORECASE,
)


def utterances(segments: Sequence) -> list[Utterance]:
    """Sentences of the segments, in order; ``segments`` need ``segment_id``, ``role``, ``content``."""
    out: list[Utterance] = []
    total = max(len(segments), 1)
    for number, segment in enumerate(segments):
        for text in split_sentences(segment.content or ""):
            text = TAG_QUESTION.sub(".", text)  # "I'll order an x-ray, okay?" is a statement
            out.append(
                Utterance(
                    segment.segment_id,
                    speaker_of(segment.role),
                    text,
                    getattr(segment, "section", None),
                    number / total,
                    len(out),
                    text.rstrip().endswith("?"),
                )
            )
    return out


def _stem(word: str) -> str:
    """The word without a plural / third-person -s: "takes" -> "take", "watches" -> "watch"."""
    word = word.lower().strip("'")
    if len(word) <= 3 or not word.endswith("s") or word.endswith("ss"):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "oes", "zes")):
        return word[:-2]
    return word[:-1]


def _normalized_words(text: str) -> list[str]:
    return [t.lower() for t in clean_tokens(split_clitics(tokenize(text)))]


def _plain(text: str) -> str:
    """Lower-case cleaned text, words separated by single spaces, clitics attached ("i'm", "don't")."""
    joined = " ".join(_normalized_words(text))
    return re.sub(r" (n't|'(?:m|s|re|ve|ll|d))\b", r"\1", joined)


def unsupported_words(sentence: str, evidence_texts: Iterable[str]) -> list[str]:
    """Content words of ``sentence`` found in none of ``evidence_texts`` (plural/3rd-person -s ignored).

    The measure of support: a note sentence is supported by its evidence when this is empty. Pronouns,
    the verb forms the rewrite produces and the note's own words ("denies", "reports") need no evidence.
    """
    available = {_stem(w) for text in evidence_texts for w in _normalized_words(text)}
    missing = []
    for word in _normalized_words(sentence):
        if not re.search(r"[a-z0-9]", word) or word in STOPWORDS or word in NOTE_WORDS:
            continue
        if _stem(word) not in available:
            missing.append(word)
    return missing


def negated_terms(text: str) -> tuple[set[str], set[str]]:
    """(words negated, words asserted) in ``text``: a negation cue negates the content words after it,
    up to a terminator (comma, period, but, and) or five words."""
    words = _normalized_words(text)
    negated: set[str] = set()
    asserted: set[str] = set()
    reach = 0
    for word in words:
        if word in NEGATION_CUES:
            reach = 5
            continue
        if word in TERMINATORS:
            reach = 0
            continue
        if word in STOPWORDS or not re.search(r"[a-z]", word) or len(word) < 3:
            if reach:
                reach -= 1
            continue
        (negated if reach else asserted).add(_stem(word))
        if reach:
            reach -= 1
    return negated, asserted


def negated_findings(evidence: Sequence[tuple[str, str]]) -> set[str]:
    """Words the evidence only ever negates: negated after a cue, or asked about by the clinician and
    answered "no" by the patient, and never asserted elsewhere in the evidence.

    :param evidence: (speaker, text) of the linked segments in order.
    """
    negated: set[str] = set()
    asserted: set[str] = set()
    for number, (speaker, text) in enumerate(evidence):
        neg, pos = negated_terms(text)
        answer = evidence[number + 1] if number + 1 < len(evidence) else None
        if (
            speaker == "CLINICIAN"
            and text.rstrip().endswith("?")
            and answer
            and answer[0] == "PATIENT"
            and NO_ANSWER.match(" ".join(t.lower() for t in tokenize(answer[1])))
        ):
            neg |= pos
            pos = set()
        negated |= neg
        asserted |= pos
    return negated - asserted


def asserted_negations(sentence: str, evidence: Sequence[tuple[str, str]]) -> list[str]:
    """Findings the evidence only negates that ``sentence`` states without a negation cue before them."""
    findings = negated_findings(evidence)
    if not findings:
        return []
    _, asserted = negated_terms(sentence)
    return sorted(findings & asserted)


def _phrase(text: str, pronouns: Pronouns) -> str:
    """A question's object phrase in the third person: "swelling in your legs" -> "swelling in his legs"."""
    words = []
    for token in tokenize(text):
        lower = token.lower()
        if lower == "your":
            words.append(pronouns.possessive)
        elif lower == "you":
            words.append(pronouns.object)
        elif lower in {"yourself"}:
            words.append(pronouns.reflexive)
        else:
            words.append(token)
    phrase = " ".join(words)
    return re.sub(r"\s+([,.])", r"\1", phrase).strip(" ,")


class NoteBuilder:
    """Build the ClinicalDocumentation of one conversation.

    :param template: the NoteTemplate (default HISTORY_AND_PHYSICAL).
    :param pronouns: MedicalScribeContext PatientContext Pronouns (HE_HIM, SHE_HER, THEY_THEM); the
        default, as in AWS's example note, is THEY_THEM.
    :param params: thresholds (:class:`NoteParams`).
    """

    def __init__(
        self, template: str | None = None, pronouns: str | None = None, params: NoteParams | None = None
    ):
        self.template = template or DEFAULT_TEMPLATE
        if self.template not in TEMPLATES:
            raise ValueError(f"unknown NoteTemplate {self.template!r}")
        self.pronouns = PRONOUNS[pronouns or DEFAULT_PRONOUNS]
        self.params = params or NoteParams()
        self._insight_segments: set[str] = set()

    # -- sentence kinds ------------------------------------------------------------------------------

    def _kind(
        self, utterance: Utterance, previous: Utterance | None, previous_kind: str | None
    ) -> str | None:
        lower = _plain(utterance.text)
        n_content = len(content_words(utterance.text))
        density = n_content / max(len(lower.split()), 1)
        if self.params.max_words is not None and len(lower.split()) > self.params.max_words:
            return None
        if utterance.speaker == "PATIENT":
            if (
                previous is not None
                and previous.speaker == "CLINICIAN"
                and previous_kind in {"PLAN", "INTERVENTION", "ASSESSMENT"}
                and n_content >= 1
            ):
                return "RESPONSE"
            if n_content >= 2:  # history is often said in few words ("my mother had asthma")
                if PFH.search(lower):
                    return "PAST_FAMILY_HISTORY"
                if PSH.search(lower):
                    return "PAST_SOCIAL_HISTORY"
                if PMH.search(lower):
                    return "PAST_MEDICAL_HISTORY"
            if n_content < self.params.min_patient_content and not (
                n_content >= 2 and (SYMPTOM.search(lower) or utterance.segment_id in self._insight_segments)
            ):
                return None
            if GOAL.search(lower):
                return "GOAL"
            if PROGRESS.search(lower) and self.template != DEFAULT_TEMPLATE:
                return "PROGRESS"
            return "HISTORY_OF_PRESENT_ILLNESS" if density >= self.params.min_density else None
        if n_content < self.params.min_clinician_content:
            return None
        if utterance.position <= self.params.intro_position and INTRO.search(lower):
            return "HISTORY_OF_PRESENT_ILLNESS"
        if TESTS.search(lower) and RESULT.search(lower):
            return "DIAGNOSTIC_TESTING"
        if INTERVENTION.search(lower):
            return "INTERVENTION"
        if PLAN_STRONG.search(lower):
            return "PLAN"
        if EXAM.search(lower):
            return "PHYSICAL_EXAMINATION"
        if ASSESS.search(lower):
            return "ASSESSMENT"
        if PLAN_WEAK.search(lower) and density >= self.params.min_density:
            return "PLAN"
        if REPORTED.search(lower):
            return "REVIEW_OF_SYSTEMS"
        if self.params.use_clinician_history and CLINICIAN_HISTORY.search(lower):
            return "HISTORY_OF_PRESENT_ILLNESS"
        return None

    # -- question / answer pairs ---------------------------------------------------------------------

    def _question_answer(self, question: Utterance, answer: Utterance) -> NoteSentence | None:
        q = _plain(question.text).rstrip(" ?")
        a = " ".join(t.lower() for t in tokenize(answer.text))
        if len(a.split()) > self.params.qa_answer_words + 1:
            return None
        p = self.pronouns
        if any(w in NEGATION_CUES for w in _normalized_words(question.text)):
            return None  # "you don't have a fever?" - "no": ambiguous
        rest = re.sub(rf"^\W*(?:{NO_WORDS}|{YES_WORDS})\b\W*", "", a)
        rest_words = content_words(rest)
        match = QUESTION_CUE.search(q)
        if match:
            what = QUESTION_TAILS.sub("", match.group("what")).strip(" ,")
            if len(content_words(what)) < 1 or re.search(r"\b(questions?|other|concerns?|symptoms)\b", what):
                return None
            what = re.sub(r"^(?:any |kind of |sort of )+", "", what)
            if NO_ANSWER.match(a):
                verb = "deny" if p.plural else "denies"
                if (
                    rest_words
                ):  # "No chest pain." to "chest pain or shortness of breath?": only what was denied
                    if not set(rest_words) <= set(content_words(what)):
                        return None
                    what = " ".join(t for t in tokenize(rest) if re.search(r"[a-z0-9]", t.lower()))
            elif YES_ANSWER.match(a) and not rest_words:
                verb = "report" if p.plural else "reports"
            else:
                return None
            text = f"{p.subject.capitalize()} {verb} {_phrase(what, p)}."
            kind = "REVIEW_OF_SYSTEMS"
        elif CONFIRMATION.match(q) and YES_ANSWER.match(a) and not NO_ANSWER.match(a) and not rest_words:
            statement = re.sub(r"\bare you\b", "you are", question.text.rstrip(" ?"), count=1, flags=re.I)
            text = rewrite(statement + ".", "CLINICIAN", p)
            if len(content_words(text)) < 2:
                return None
            kind = "HISTORY_OF_PRESENT_ILLNESS"
        else:
            return None
        return NoteSentence(
            kind, text, [question.segment_id, answer.segment_id], question.index, [question, answer]
        )

    # -- assembly ------------------------------------------------------------------------------------

    def sentences(self, segments: Sequence, insights: Iterable[dict] = ()) -> list[NoteSentence]:
        """The note's sentences with their kinds, in conversation order (before templating)."""
        items = utterances(segments)
        insights = list(insights or ())
        negated_spans = _negated_spans(insights)
        self._insight_segments = {
            span.get("SegmentId")
            for insight in insights
            for span in insight.get("Spans") or []
            if isinstance(span, dict)
        }
        out: list[NoteSentence] = []
        seen: set[str] = set()
        chief: NoteSentence | None = None
        previous_kind: str | None = None
        for number, utterance in enumerate(items):
            previous = items[number - 1] if number else None
            if utterance.section in {"OTHER", "VISIT_FLOW_MANAGEMENT"} or ASSISTANT.match(
                _plain(utterance.text)
            ):
                previous_kind = None
                continue
            if utterance.is_question:
                if utterance.speaker == "CLINICIAN":
                    answer = next(
                        (
                            later
                            for later in items[number + 1 : number + 3]
                            if later.speaker == "PATIENT" and later.segment_id != utterance.segment_id
                        ),
                        None,
                    )
                    if answer is not None:
                        pair = self._question_answer(utterance, answer)
                        if pair is not None:
                            out.append(pair)
                previous_kind = None
                continue
            kind = self._kind(utterance, previous, previous_kind)
            previous_kind = kind
            if kind is None:
                continue
            text = rewrite(utterance.text, utterance.speaker, self.pronouns)
            if not text or text.endswith("?"):
                continue
            out.append(NoteSentence(kind, text, [utterance.segment_id], utterance.index, [utterance]))
            if (
                chief is None
                and utterance.speaker == "CLINICIAN"
                and utterance.position <= self.params.intro_position
            ):
                match = COMPLAINT.search(_plain(utterance.text))
                if match:
                    what = re.split(r"\b(?:and|but|which|that|who|so)\b|,", match.group("what"))[0].strip()
                    if 1 <= len(content_words(what)) <= 6:
                        chief = NoteSentence(
                            "CHIEF_COMPLAINT", what[0].upper() + what[1:] + ".", [utterance.segment_id],
                            utterance.index, [utterance],
                        )  # fmt: skip
        if chief is not None:
            out.append(chief)
        kept: list[NoteSentence] = []
        for sentence in sorted(out, key=lambda s: s.index):
            key = sentence.kind + "|" + sentence.text.lower()
            if sentence.text.lower() in seen or key in seen:
                continue
            evidence = [(u.speaker, u.text) for u in sentence.sources]
            if asserted_negations(sentence.text, evidence):
                continue
            if _breaks_negated_span(sentence, negated_spans):
                continue
            if unsupported_words(sentence.text, [u.text for u in sentence.sources]):
                continue
            if sentence.kind != "CHIEF_COMPLAINT":
                seen.add(sentence.text.lower())
            kept.append(sentence)
        return self._within_budget(kept)

    def _within_budget(self, sentences: list[NoteSentence]) -> list[NoteSentence]:
        """Drop the sentences with the fewest content words per word until the note fits the budget.

        The chief complaint, review-of-systems answers and the clinician's findings and plan go last."""
        budget = self.params.max_note_words
        total = sum(len(s.text.split()) for s in sentences)
        if budget is None or total <= budget:
            return sentences

        def value(sentence: NoteSentence) -> float:
            words = max(len(sentence.text.split()), 1)
            return KIND_PRIOR.get(sentence.kind, 0.0) + len(content_words(sentence.text)) / words

        dropped: set[int] = set()
        for sentence in sorted(sentences, key=value):
            if total <= budget:
                break
            dropped.add(id(sentence))
            total -= len(sentence.text.split())
        return [s for s in sentences if id(s) not in dropped]

    def build(self, segments: Sequence, insights: Iterable[dict] = ()) -> dict:
        """``{"Sections": [...]}``: every section of the template, each with its (possibly empty) Summary."""
        by_kind: dict[str, list[NoteSentence]] = {}
        for sentence in self.sentences(segments, insights):
            kind = sentence.kind
            if self.template == DEFAULT_TEMPLATE:
                kind = HP_FOLD.get(kind, kind)
            by_kind.setdefault(kind, []).append(sentence)
        sections = []
        for name, kinds in TEMPLATES[self.template]:
            chosen = sorted((s for kind in kinds for s in by_kind.get(kind, [])), key=lambda s: s.index)
            sections.append(
                {
                    "SectionName": name,
                    "Summary": [
                        {
                            "SummarizedSegment": s.text,
                            "EvidenceLinks": [{"SegmentId": sid} for sid in dict.fromkeys(s.evidence)],
                        }
                        for s in chosen
                    ],
                }
            )
        return {"Sections": sections}


def _negated_spans(insights: Iterable[dict]) -> dict[str, list[str]]:
    """SegmentId -> contents of the insight spans with a NEGATION trait (set by the insights stage)."""
    spans: dict[str, list[str]] = {}
    for insight in insights or ():
        traits = insight.get("Traits") or insight.get("Attributes") or []
        names = {str(t.get("Name") or t.get("Type") or "").upper() for t in traits if isinstance(t, dict)}
        if "NEGATION" not in names:
            continue
        for span in insight.get("Spans") or []:
            if span.get("SegmentId") and span.get("Content"):
                spans.setdefault(span["SegmentId"], []).append(str(span["Content"]))
    return spans


def _breaks_negated_span(sentence: NoteSentence, negated_spans: dict[str, list[str]]) -> bool:
    """True when a negated insight of an evidence segment appears in the sentence with no cue before it."""
    words = _normalized_words(sentence.text)
    for sid in sentence.evidence:
        for content in negated_spans.get(sid, []):
            target = _normalized_words(content)
            if not target:
                continue
            for start in range(len(words) - len(target) + 1):
                if words[start : start + len(target)] == target:
                    window = words[max(0, start - 6) : start]
                    if not any(w in NEGATION_CUES for w in window):
                        return True
    return False


def render_text(document: dict) -> str:
    """The note as a clinician reads it: each non-empty section's title, then its sentences."""
    parts = []
    for section in document.get("Sections", []):
        summary = section.get("Summary") or []
        if summary:
            parts.append(section["SectionName"].replace("_", " "))
            parts.append(" ".join(item["SummarizedSegment"] for item in summary))
    return "\n\n".join(parts)
