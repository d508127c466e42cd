"""The night's job requests: one Start* request per recording, in bounded batches, a manifest per batch."""

from __future__ import annotations

import logging
import posixpath
from typing import Any

from medscribe.services import Service

log = logging.getLogger(__name__)


def job_request(
    recording: dict[str, Any], *, output_bucket: str, data_access_role_arn: str
) -> dict[str, Any]:
    """The Start* request of one recording's job, as ``{"service", "request"}`` (for the batch operator)."""
    options = recording["options"]
    if recording["service"] == Service.HEALTHSCRIBE:
        request = {
            "MedicalScribeJobName": recording["job_name"],
            "Media": {"MediaFileUri": recording["media_uri"]},
            "OutputBucketName": output_bucket,
            "DataAccessRoleArn": data_access_role_arn,
            "Settings": options["Settings"],
        }
        if options.get("ChannelDefinitions"):
            request["ChannelDefinitions"] = options["ChannelDefinitions"]
    else:
        request = {
            "MedicalTranscriptionJobName": recording["job_name"],
            "LanguageCode": "en-US",
            "Media": {"MediaFileUri": recording["media_uri"]},
            "MediaFormat": options["MediaFormat"],
            "MediaSampleRateHertz": options["MediaSampleRateHertz"],
            "OutputBucketName": output_bucket,
            "OutputKey": f"transcribe-medical/{recording['job_name']}.json",
            "Specialty": options["Specialty"],
            "Type": options["Type"],
        }
        if options.get("Settings"):
            request["Settings"] = options["Settings"]
    return {"service": recording["service"], "request": request}


def plan_batches(
    recordings: list[dict[str, Any]],
    *,
    ledger,
    batch_size: int,
    output_bucket: str,
    data_access_role_arn: str,
) -> list[dict[str, Any]]:
    """
    Bounded batches of job requests for the recordings that need a job; marks them ``submitted``.

    :param recordings: ``Recording.to_dict()`` values from discovery.
    :param ledger: the :class:`medscribe.ledger.Ledger`.
    :param batch_size: most jobs in one batch (one mapped task).
    :return: ``[{"jobs": [...]}, ...]`` for ``expand_kwargs``.
    """
    todo = [r for r in recordings if r["state"] in ("discovered", "submitted")]
    for recording in todo:
        if recording["state"] == "discovered":
            ledger.update(
                recording["night"],
                recording["recording_id"],
                state="submitted",
                attempts=recording["attempts"] + 1,
            )
    requests = [
        job_request(r, output_bucket=output_bucket, data_access_role_arn=data_access_role_arn) for r in todo
    ]
    batches = [{"jobs": requests[i : i + batch_size]} for i in range(0, len(requests), batch_size)]
    log.info("%d jobs to run in %d batches of at most %d", len(requests), len(batches), batch_size)
    return batches


def plan_batch_manifests(
    recordings: list[dict[str, Any]],
    *,
    ledger,
    night: str,
    batch_size: int,
    output_bucket: str,
    data_access_role_arn: str,
) -> list[str]:
    """
    :func:`plan_batches`, each batch written to its own manifest: the mapped job tasks get one key each.

    :param recordings: ``Recording.to_dict()`` values from discovery.
    :param ledger: the :class:`medscribe.ledger.Ledger` (its bucket and prefix hold the manifests).
    :param night: the night.
    :param batch_size: most jobs in one batch (one mapped task).
    :param output_bucket: the bucket the jobs write to.
    :param data_access_role_arn: the role HealthScribe assumes.
    :return: the batch manifests' keys, in order (for ``expand``).
    """
    from medscribe.manifests import delete_stale, manifest_key, write_manifest

    batches = plan_batches(
        recordings,
        ledger=ledger,
        batch_size=batch_size,
        output_bucket=output_bucket,
        data_access_role_arn=data_access_role_arn,
    )
    keys = [
        write_manifest(
            ledger.s3, ledger.bucket, manifest_key(ledger.prefix, night, f"batches/{index:04d}"), batch
        )
        for index, batch in enumerate(batches)
    ]
    delete_stale(
        ledger.s3,
        ledger.bucket,
        posixpath.dirname(manifest_key(ledger.prefix, night, "batches/0")) + "/",
        set(keys),
    )
    return keys
