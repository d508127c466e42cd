"""The lexical cues of the note builder: which words carry no content, and the patterns that sort a
sentence into a kind (introduction, complaint, tests, exam, assessment, plan, history, ...)."""

from __future__ import annotations

import re

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "let",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "okay",
        "ok",
        "yeah",
        "yes",
        "uh",
        "um",
        "oh",
        "well",
        "like",
        "really",
        "right",
        "alright",
        "know",
        "think",
        "get",
        "got",
        "go",
        "going",
        "gon",
        "na",
        "wan",
        "want",
        "kind",
        "sort",
        "thing",
        "things",
        "something",
        "anything",
        "stuff",
        "lot",
        "little",
        "bit",
        "mean",
        "guess",
        "maybe",
        "sure",
        "good",
        "great",
        "fine",
        "thank",
        "thanks",
        "pretty",
        "now",
        "today",
        "just",
        "see",
        "let's",
        "'re",
        "'ve",
        "'ll",
        "'d",
        "'m",
        "'s",
        "n't",
        "cause",
        "'cause",
        "us",
        "hi",
        "hello",
        "hey",
        "morning",
        "afternoon",
    ]
)
NOTE_WORDS = frozenset(
    [
        "patient",
        "denies",
        "deny",
        "reports",
        "report",
        "he",
        "she",
        "they",
        "him",
        "her",
        "them",
        "his",
        "hers",
        "their",
        "theirs",
        "himself",
        "herself",
        "themselves",
        "has",
        "does",
        "is",
        "are",
        "was",
        "were",
        "have",
        "going",
        "to",
        "not",
        "will",
        "would",
    ]
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
