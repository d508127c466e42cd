"""The names the nightly DAGs share: the two services, and the params that say where the copies live."""

from __future__ import annotations

import json
from pathlib import Path

from medscribe.dag_params import places_params
from medscribe.governance import Places
from medscribe.lake.schemas import SERVICES
from medscribe.services import Service


def test_service_values_are_the_lake_values():
    assert tuple(Service) == SERVICES  # data unchanged: the lake's service columns keep their strings
    assert [s.label for s in Service] == ["HealthScribe", "Transcribe Medical", "HealthScribe streaming"]
    assert Service("healthscribe") is Service.HEALTHSCRIBE and Service.HEALTHSCRIBE == "healthscribe"
    assert json.dumps({"service": Service.TRANSCRIBE_MEDICAL}) == '{"service": "transcribe_medical"}'
    assert [s.job_name_field for s in Service] == [
        "MedicalScribeJobName",
        "MedicalTranscriptionJobName",
        "SessionId",
    ]


def test_places_params_are_what_places_reads(monkeypatch):
    monkeypatch.setenv("MEDSCRIBE_LAKE_URI", "s3://lake-bucket/lake")
    params = places_params()
    assert list(params) == list(Places.__dataclass_fields__)
    places = Places.from_params({name: param.value for name, param in params.items()})
    assert places.lake_uri == "s3://lake-bucket/lake" and places.recordings_prefix == "incoming"


def test_the_three_dags_take_their_places_from_the_helper():
    dags = Path(__file__).resolve().parents[1] / "dags"
    for name in ("medscribe_nightly", "medscribe_forget", "medscribe_retention"):
        source = (dags / f"{name}.py").read_text()
        assert "**places_params()," in source, name
        assert not [place for place in Places.__dataclass_fields__ if f'"{place}": Param(' in source], name
