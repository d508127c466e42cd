"""Stages ``notes`` and ``summary``: HealthScribe's clinical document, built and put to the bucket.

* ``notes`` (:class:`BuildClinicalDocument`): ``Settings.ClinicalNoteGenerationSettings.NoteTemplate``
  (default HISTORY_AND_PHYSICAL) and ``MedicalScribeContext.PatientContext.Pronouns`` (default THEY_THEM)
  -> :class:`~medscribe_engine.pipeline.notes.builder.NoteBuilder` over the segments (their roles, and
  their sections and the ClinicalInsights when the stages before set them) -> ``doc.clinical_document``
  (the ``ClinicalDocumentation`` object).
* ``summary`` (:class:`WriteClinicalDocument`): ``{"ClinicalDocumentation": ...}`` at
  ``<JobName>/summary.json`` in OutputBucketName, beside ``<JobName>/transcript.json`` as AWS lays them
  out, with the job's SSE-KMS settings; ``doc.outputs["clinical_document"]`` = its URI, which
  GetMedicalScribeJob returns as ``MedicalScribeOutput.ClinicalDocumentUri``.
"""

from __future__ import annotations

from medscribe_engine.pipeline.document import JobDocument
from medscribe_engine.pipeline.notes.builder import NoteBuilder, NoteParams, render_text
from medscribe_engine.pipeline.notes.templates import DEFAULT_TEMPLATE, TEMPLATES, section_names
from medscribe_engine.pipeline.writers import OutputWriter

__all__ = [
    "TEMPLATES",
    "BuildClinicalDocument",
    "NoteBuilder",
    "NoteParams",
    "WriteClinicalDocument",
    "clinical_document_key",
    "render_text",
    "section_names",
]


def clinical_document_key(job_name: str) -> str:
    return f"{job_name}/summary.json"


def note_settings(request: dict) -> tuple[str, str | None]:
    """(NoteTemplate, Pronouns) of a StartMedicalScribeJob request, with AWS's default template."""
    settings = (request.get("Settings") or {}).get("ClinicalNoteGenerationSettings") or {}
    context = (request.get("MedicalScribeContext") or {}).get("PatientContext") or {}
    return settings.get("NoteTemplate") or DEFAULT_TEMPLATE, context.get("Pronouns")


class BuildClinicalDocument:
    """Build the note of a HealthScribe job into ``doc.clinical_document``.

    :param params: the builder's thresholds (default :class:`NoteParams`).
    """

    name = "notes"
    requires = ("doc.segments", "segment.role")
    assigns = ("doc.clinical_document",)

    def __init__(self, params: NoteParams | None = None):
        self.params = params

    def __call__(self, doc: JobDocument) -> None:
        template, pronouns = note_settings(doc.request)
        builder = NoteBuilder(template, pronouns, self.params)
        doc.clinical_document = builder.build(doc.segments, doc.insights)


class WriteClinicalDocument(OutputWriter):
    """Put the clinical document; ``doc.outputs["clinical_document"]`` = its URI."""

    name = "summary"
    requires = ("doc.clinical_document",)
    assigns = ("doc.outputs",)

    def __call__(self, doc: JobDocument) -> None:
        document = {"ClinicalDocumentation": doc.clinical_document or {"Sections": []}}
        doc.outputs["clinical_document"] = self.put(doc, clinical_document_key(doc.job_name), document)
