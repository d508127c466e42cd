"""The quality gate's thresholds and policy: one config, overridable for one run.

The defaults below are the documented bars (README.md, *Quality gates and the review queue*). A run
overrides any of them with the DAG param ``quality`` (a JSON object of field names to values), e.g.
``airflow dags trigger medscribe_nightly --conf '{"quality": {"min_mean_confidence": 0.8}}'``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class QualityConfig:
    """
    Bars a transcript is held to, and what fails a night.

    :param min_mean_confidence: lowest accepted mean confidence of a transcript's words.
    :param low_word_confidence: a word under this confidence counts as low (and is highlighted for reviewers).
    :param max_low_share: highest accepted share of low words in a transcript.
    :param min_segment_coverage: lowest accepted share of the audio's duration covered by the
        transcript's segments (HealthScribe transcripts).
    :param segment_end_tolerance_s: how far past the audio's duration a segment may end before it is a
        structural error.
    :param fail_on_structural: a structural error (schema, types, null or duplicate keys, a dangling
        evidence link, an insight offset outside its segment) fails the night.
    :param fail_on_review: a transcript under a bar fails the night too (off by default: it goes to the
        review queue and the night succeeds).
    """

    min_mean_confidence: float = 0.85
    low_word_confidence: float = 0.5
    max_low_share: float = 0.10
    min_segment_coverage: float = 0.5
    segment_end_tolerance_s: float = 0.5
    fail_on_structural: bool = True
    fail_on_review: bool = False

    def __post_init__(self):
        for name in ("min_mean_confidence", "low_word_confidence", "max_low_share", "min_segment_coverage"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"quality setting {name} must be a number in [0, 1], got {value!r}")
        if (
            isinstance(self.segment_end_tolerance_s, bool)
            or not isinstance(self.segment_end_tolerance_s, (int, float))
            or self.segment_end_tolerance_s < 0
        ):
            raise ValueError(
                f"quality setting segment_end_tolerance_s must be a number >= 0, got {self.segment_end_tolerance_s!r}"
            )
        for name in ("fail_on_structural", "fail_on_review"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"quality setting {name} must be true or false, got {getattr(self, name)!r}")

    def with_overrides(self, overrides: dict[str, Any] | None) -> QualityConfig:
        """
        This config with some fields replaced (the DAG param ``quality`` of one run).

        :param overrides: field name -> value; None or empty keeps the config.
        :raises ValueError: an unknown name or a value out of range.
        """
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - {f.name for f in fields(self)})
        if unknown:
            raise ValueError(
                f"unknown quality settings {unknown}; known: {sorted(f.name for f in fields(self))}"
            )
        return replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_CONFIG = QualityConfig()
