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

Guards (:mod:`.guards`): questions are never written as findings; a sentence that would assert
something its evidence negates (:func:`asserted_negations`, and the NEGATION trait of a ClinicalInsight
over its segments) is dropped; segments of the sections OTHER / VISIT_FLOW_MANAGEMENT (when the sections stage has set them)
and sentences with too few content words are not used. An empty transcript, silence or small talk give
sections with empty summaries. The sentences come from :mod:`.utterances`, the lexical cues that sort
them from :mod:`.cues`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from medscribe_engine.pipeline.notes.cleanup import NEGATION_CUES, tokenize
from medscribe_engine.pipeline.notes.cues import (
    ASSESS,
    ASSISTANT,
    CLINICIAN_HISTORY,
    COMPLAINT,
    CONFIRMATION,
    EXAM,
    GOAL,
    INTERVENTION,
    INTRO,
    KIND_PRIOR,
    NO_ANSWER,
    NO_WORDS,
    PFH,
    PLAN_STRONG,
    PLAN_WEAK,
    PMH,
    PROGRESS,
    PSH,
    QUESTION_CUE,
    QUESTION_TAILS,
    REPORTED,
    RESULT,
    SYMPTOM,
    TESTS,
    YES_ANSWER,
    YES_WORDS,
)
from medscribe_engine.pipeline.notes.guards import (
    asserted_negations,
    breaks_negated_span,
    negated_insight_spans,
    normalized_words,
    plain,
    unsupported_words,
)
from medscribe_engine.pipeline.notes.rewrite import DEFAULT_PRONOUNS, PRONOUNS, Pronouns, rewrite
from medscribe_engine.pipeline.notes.templates import DEFAULT_TEMPLATE, HP_FOLD, TEMPLATES
from medscribe_engine.pipeline.notes.utterances import Utterance, content_words, utterances


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
class NoteSentence:
    kind: str
    text: str
    evidence: list[str]
    index: int
    sources: list[Utterance] = field(default_factory=list)


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
        lower = plain(utterance.text)
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
        q = plain(question.text).rstrip(" ?")
        a = " ".join(t.lower() for t in tokenize(answer.text))
        if len(a.split()) > self.params.qa_answer_words + 1:
            return None
        p = self.pronouns
        if any(w in NEGATION_CUES for w in normalized_words(question.text)):
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
        negated_spans = negated_insight_spans(insights)
        self._insight_segments = {
            segment_id
            for insight in insights
            for span in insight.get("Spans") or []
            if isinstance(span, dict) and (segment_id := span.get("SegmentId")) is not None
        }
        out: list[NoteSentence] = []
        seen: set[str] = set()
        chief: NoteSentence | None = None
        previous_kind: str | None = None
        for number, utterance in enumerate(items):
            previous = items[number - 1] if number else None
            if utterance.section in {"OTHER", "VISIT_FLOW_MANAGEMENT"} or ASSISTANT.match(
                plain(utterance.text)
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
                match = COMPLAINT.search(plain(utterance.text))
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
            if breaks_negated_span(sentence, negated_spans):
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


def render_text(document: dict) -> str:
    """The note as a clinician reads it: each non-empty section's title, then its sentences."""
    parts = []
    for section in document.get("Sections", []):
        summary = section.get("Summary") or []
        if summary:
            parts.append(section["SectionName"].replace("_", " "))
            parts.append(" ".join(item["SummarizedSegment"] for item in summary))
    return "\n\n".join(parts)
