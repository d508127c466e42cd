"""Hostile input against the engine's API, from outside (issue 28, items 5-10; issue 27's m4a): boto3 and
raw HTTP against the running engine. Each case has its own test; a hypothesis property test then drives
the API with generated request fields and bodies and checks that no client error is answered with a 5xx.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import struct
import urllib.parse
from pathlib import Path

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from engine_helpers import (
    CHANNEL_DEFINITIONS,
    FIXTURES,
    MEDIA_BUCKET,
    OUTPUT_BUCKET,
    ROLE_ARN,
    media_key,
    media_uri,
    unique,
    wait_transcription,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from medscribe_harness.devstack import LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY

pytestmark = pytest.mark.engine

PARSE_FAILED = "Failed to parse audio file. Check the media file and try your request again."
TOO_LONG = "Maximum audio duration is 4.000000 hours"
NOT_AUDIO = b"this is a text file, not a recording\n" * 64
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
FUZZ_BUCKET = "medscribe-fuzz-absent"  # no such bucket: a job the fuzzer gets accepted fails at once
SUMMARIES = "MedicalTranscriptionJobSummaries"


def signed(stack, target: str, body: bytes, region: str = "us-east-1", extra: dict | None = None) -> dict:
    """The headers of a correctly signed JSON 1.1 request (botocore's own signer)."""
    request = AWSRequest(
        method="POST",
        url=stack.engine_endpoint + "/",
        data=body,
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1", **(extra or {})},
    )
    credentials = Credentials(LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY)
    SigV4Auth(credentials, "transcribe", region).add_auth(request)
    return dict(request.headers)


def post(stack, body: bytes, headers: dict) -> tuple[int, dict]:
    """POST / with these exact headers; the status and the JSON error or answer."""
    endpoint = urllib.parse.urlsplit(stack.engine_endpoint)
    connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=60)
    try:
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    try:
        document = json.loads(payload)
    except ValueError:
        document = {"raw": payload[:200].decode("latin-1")}
    return response.status, document


def call(stack, action: str, params: dict | bytes, **kwargs) -> tuple[int, dict]:
    body = params if isinstance(params, bytes) else json.dumps(params).encode()
    return post(stack, body, signed(stack, f"Transcribe.{action}", body, **kwargs))


def error_of(excinfo) -> tuple[str, int, str]:
    response = excinfo.value.response
    error = response["Error"]
    return error["Code"], response["ResponseMetadata"]["HTTPStatusCode"], error["Message"]


def transcription(name: str, uri: str, **overrides) -> dict:
    return {
        "MedicalTranscriptionJobName": name,
        "LanguageCode": "en-US",
        "Media": {"MediaFileUri": uri},
        "OutputBucketName": OUTPUT_BUCKET,
        "Specialty": "PRIMARYCARE",
        "Type": "DICTATION",
        **overrides,
    }


def flac_claiming(path: Path, seconds: float, claimed_samples: int) -> Path:
    """A short 16 kHz FLAC tone (PyAV) whose STREAMINFO claims ``claimed_samples`` samples."""
    import av
    import numpy as np

    rate = 16000
    samples = (np.sin(np.arange(int(seconds * rate)) * 0.17) * 3000).astype(np.int16).reshape(1, -1)
    with av.open(str(path), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    data = bytearray(path.read_bytes())
    (packed,) = struct.unpack(">Q", data[18:26])  # STREAMINFO: ... 36-bit total samples
    data[18:26] = struct.pack(">Q", (packed & ~((1 << 36) - 1)) | claimed_samples)
    path.write_bytes(bytes(data))
    return path


def m4a_from(source: Path, target: Path, seconds: float) -> Path:
    """The first ``seconds`` of a WAV fixture as AAC in an M4A (``ipod``) container, made by PyAV."""
    import av

    with av.open(str(source)) as inp, av.open(str(target), "w", format="ipod") as out:
        stream = out.add_stream("aac", rate=16000, layout="mono")
        for frame in inp.decode(audio=0):
            if frame.time is not None and frame.time >= seconds:
                break
            frame.pts = None
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return target


@pytest.fixture(scope="module")
def hostile_keys(s3, tmp_path_factory) -> dict[str, str]:
    """Objects whose keys an URL parser would cut or unquote, next to the objects it would read instead."""
    folder = tmp_path_factory.mktemp("hostile")
    wav = (FIXTURES / "dictation.wav").read_bytes()
    keys = {
        "question": media_key("q?x", ".wav"),
        "question_cut": media_key("q"),
        "hash": media_key("visit#2", ".wav"),
        "hash_cut": media_key("visit"),
        "percent": media_key("a%41", ".wav"),
        "percent_unquoted": media_key("aA", ".wav"),
        "long": media_key("four-hours-and-more", ".flac"),
        "m4a": media_key("dictation", ".m4a"),
    }
    for name in ("question", "hash", "percent"):
        s3.put_object(Bucket=MEDIA_BUCKET, Key=keys[name], Body=NOT_AUDIO)
    for name in ("question_cut", "hash_cut", "percent_unquoted"):
        s3.put_object(Bucket=MEDIA_BUCKET, Key=keys[name], Body=wav)
    long_media = flac_claiming(folder / "long.flac", 2.0, int(4.2 * 3600 * 16000))
    s3.upload_file(str(long_media), MEDIA_BUCKET, keys["long"])
    m4a = m4a_from(FIXTURES / "dictation.wav", folder / "d.m4a", 9.0)
    s3.upload_file(str(m4a), MEDIA_BUCKET, keys["m4a"])
    return keys


# --- item 5 ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["question", "hash", "percent"])
def test_the_object_named_is_the_object_read(transcribe, hostile_keys, case):
    """The named object is a text file; the one an URL parser would read instead is a good recording."""
    name = unique(f"hostile-{case}")
    transcribe.start_medical_transcription_job(**transcription(name, media_uri(hostile_keys[case])))
    job = wait_transcription(transcribe, name, timeout=600)
    assert (job["TranscriptionJobStatus"], job["FailureReason"]) == ("FAILED", PARSE_FAILED)


def test_an_https_uri_with_a_query_is_refused(transcribe):
    uri = f"https://s3.us-east-1.amazonaws.com/{MEDIA_BUCKET}/{media_key('dictation')}?versionId=1"
    with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
        transcribe.start_medical_transcription_job(**transcription(unique("hostile-query"), uri))
    assert "MediaFileUri is not valid" in error_of(excinfo)[2]


# --- item 6 ----------------------------------------------------------------------------------------------


def test_media_over_four_hours_fails_with_aws_reason(transcribe, hostile_keys):
    name = unique("hostile-long")
    transcribe.start_medical_transcription_job(**transcription(name, media_uri(hostile_keys["long"])))
    job = wait_transcription(transcribe, name, timeout=600)
    assert job["TranscriptionJobStatus"] == "FAILED" and TOO_LONG in job["FailureReason"]


# --- issue 27 item 5: m4a ----------------------------------------------------------------------------------


def test_an_m4a_job_is_transcribed(s3, stack, transcribe, hostile_keys):
    name = unique("hostile-m4a")
    transcribe.start_medical_transcription_job(
        **transcription(name, media_uri(hostile_keys["m4a"]), MediaFormat="m4a", MediaSampleRateHertz=16000)
    )
    job = wait_transcription(transcribe, name, timeout=600)
    assert job["TranscriptionJobStatus"] == "COMPLETED", job.get("FailureReason")
    assert job["MediaFormat"] == "m4a"
    uri = job["Transcript"]["TranscriptFileUri"]
    bucket, _, key = uri[len(stack.s3_endpoint) + 1 :].partition("/")
    text = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["results"]["transcripts"][0]
    assert "blood pressure" in text["transcript"].lower()


# --- item 7 ----------------------------------------------------------------------------------------------


def test_a_ten_megabyte_signed_body_is_refused_with_a_json_error(stack):
    body = b'{"MaxResults": 1, "Padding": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    status, document = post(stack, body, signed(stack, "Transcribe.ListMedicalScribeJobs", body))
    assert status == 413
    assert document["__type"] == "RequestEntityTooLargeException"
    assert "1048576 bytes" in document["Message"]


def test_an_unsigned_large_body_is_refused_before_it_is_read(stack):
    body = b"{" + b" " * (10 * 1024 * 1024) + b"}"
    status, document = post(stack, body, {"X-Amz-Target": "Transcribe.ListMedicalScribeJobs"})
    assert (status, document["__type"]) == (403, "MissingAuthenticationTokenException")
    # 400 MB announced, nothing sent: the answer comes without the body
    endpoint = urllib.parse.urlsplit(stack.engine_endpoint)
    with socket.create_connection((endpoint.hostname, endpoint.port), timeout=30) as connection:
        connection.sendall(
            b"POST / HTTP/1.1\r\nHost: " + endpoint.netloc.encode() + b"\r\n"
            b"X-Amz-Target: Transcribe.ListMedicalScribeJobs\r\nContent-Length: 400000000\r\n\r\n"
        )
        answer = connection.recv(4096)
    assert answer.split(b"\r\n", 1)[0].split()[1] in (b"403", b"413"), answer[:200]


# --- item 8 ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["eu-west-1", "zz-nowhere-9"])
def test_a_credential_scoped_to_another_region_is_refused(stack, region):
    client = boto3.client(
        "transcribe",
        endpoint_url=stack.engine_endpoint,
        region_name=region,
        aws_access_key_id=LOCAL_ACCESS_KEY_ID,
        aws_secret_access_key=LOCAL_SECRET_ACCESS_KEY,
        config=NO_RETRY,
    )
    with pytest.raises(ClientError) as excinfo:
        client.list_medical_scribe_jobs(MaxResults=1)
    assert error_of(excinfo) == (
        "InvalidSignatureException",
        403,
        "Credential should be scoped to a valid region.",
    )


# --- item 9 ----------------------------------------------------------------------------------------------


def test_json_nested_ten_thousand_deep_is_a_serialization_error(stack):
    status, document = call(stack, "ListMedicalScribeJobs", b'{"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}")
    assert (status, document["__type"]) == (400, "SerializationException")
    status, document = call(stack, "ListMedicalScribeJobs", b'{"a": ' + b"[" * 100 + b"]" * 100 + b"}")
    assert (status, document["__type"]) == (400, "SerializationException")
    assert "deeper than 16 levels" in document["Message"]


def test_a_lone_surrogate_is_a_serialization_error(stack):
    status, document = call(stack, "ListMedicalTranscriptionJobs", b'{"JobNameContains": "abc\\ud800"}')
    assert (status, document["__type"]) == (400, "SerializationException")


@pytest.mark.parametrize(
    "token",
    [
        base64.urlsafe_b64encode(b'{"after": 1e308}').decode(),
        base64.urlsafe_b64encode(b'{"after": 3}').decode(),
        "eyJhZnRlciI6IDN9.AAAA",
        "not-a-token",
        "\u00e9t\u00e9",
    ],
    ids=["1e308", "unsigned", "bad-mac", "garbage", "non-ascii"],
)
def test_forged_next_tokens_are_bad_requests(transcribe_unvalidated, token):
    with pytest.raises(transcribe_unvalidated.exceptions.BadRequestException) as excinfo:
        transcribe_unvalidated.list_medical_transcription_jobs(NextToken=token)
    assert error_of(excinfo)[:2] == ("BadRequestException", 400)
    assert "NextToken is not valid" in error_of(excinfo)[2]


def test_next_tokens_are_tied_to_their_listing(transcribe):
    prefix = unique("hostile-page")
    names = [f"{prefix}-{index}" for index in range(3)]
    for name in names:  # media that does not exist: each job fails at once
        transcribe.start_medical_transcription_job(**transcription(name, f"s3://{FUZZ_BUCKET}/x.wav"))
    first = transcribe.list_medical_transcription_jobs(JobNameContains=prefix, MaxResults=1)
    token = first["NextToken"]
    pages = [first]
    while "NextToken" in pages[-1]:
        pages.append(
            transcribe.list_medical_transcription_jobs(
                JobNameContains=prefix, MaxResults=1, NextToken=pages[-1]["NextToken"]
            )
        )
    listed = [job["MedicalTranscriptionJobName"] for page in pages for job in page[SUMMARIES]]
    assert listed == names[::-1]  # newest first, each once
    other_listings = [
        lambda: transcribe.list_medical_transcription_jobs(JobNameContains=prefix + "-1", NextToken=token),
        lambda: transcribe.list_medical_transcription_jobs(
            JobNameContains=prefix, Status="QUEUED", NextToken=token
        ),
        lambda: transcribe.list_medical_transcription_jobs(NextToken=token),
        lambda: transcribe.list_medical_scribe_jobs(JobNameContains=prefix, NextToken=token),
        lambda: transcribe.list_medical_vocabularies(NameContains=prefix, NextToken=token),
        lambda: transcribe.list_vocabulary_filters(NameContains=prefix, NextToken=token),
    ]
    for other in other_listings:
        with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
            other()
        assert "NextToken is not valid" in error_of(excinfo)[2]


# --- item 10 ---------------------------------------------------------------------------------------------


def test_output_keys_s3_would_refuse_are_refused_at_start(transcribe):
    uri = f"s3://{FUZZ_BUCKET}/x.wav"
    refused = {  # OutputKey -> what the message names
        "f" * 1001: "longer than the 1024 bytes",  # + /medical/<name>.json: over S3's limit
        "k" * 1020 + ".json": "valid max length: 1024",  # the model's own limit
        "probe-out/../../x.json": "'.' or '..' path segment",
        "probe-out/./x": "'.' or '..' path segment",
    }
    for key, phrase in refused.items():
        with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
            transcribe.start_medical_transcription_job(
                **transcription(unique("hostile-key"), uri, OutputKey=key)
            )
        assert phrase in error_of(excinfo)[2], key[:40]
    # the longest key S3 takes is accepted
    answer = transcribe.start_medical_transcription_job(
        **transcription(unique("hostile-key"), uri, OutputKey="k" * 1019 + ".json")
    )
    assert answer["MedicalTranscriptionJob"]["TranscriptionJobStatus"] == "QUEUED"


@pytest.mark.parametrize("name", ["..", "."])
def test_a_scribe_job_name_that_is_a_dot_segment_is_refused(transcribe, name):
    with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
        transcribe.start_medical_scribe_job(
            MedicalScribeJobName=name,
            Media={"MediaFileUri": f"s3://{FUZZ_BUCKET}/x.wav"},
            OutputBucketName=OUTPUT_BUCKET,
            DataAccessRoleArn=ROLE_ARN,
            Settings={"ChannelIdentification": True},
            ChannelDefinitions=CHANNEL_DEFINITIONS,
        )
    assert "'.' or '..' path segment" in error_of(excinfo)[2]


# --- the property: no client error is answered with a 5xx -------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
hostile_strings = st.sampled_from(
    [
        "",
        "..",
        "a" * 1100,
        f"s3://{FUZZ_BUCKET}/q?x.wav",
        f"s3://{FUZZ_BUCKET}/100%.wav",
        "s3://",
        "https://[::1/x",
        "https://s3.amazonaws.com/b/k#f",
        "fuzz-\u00e9",
        "fuzz-\ud800",
        "fuzz-job",
        "en-US",
        "PRIMARYCARE",
        "DICTATION",
        "eyJhZnRlciI6IDF9",
        "arn:aws:transcribe:us-east-1:000000000000:medical-transcription-job/x",
    ]
)
# a prefix a model pattern accepts (patterns are searched, not matched whole), then any characters, lone
# surrogates included (JSON can carry "\ud800"; UTF-8, SQLite and S3 cannot)
ACCEPTED_PREFIXES = ["fuzz-", f"s3://{FUZZ_BUCKET}/", "arn:aws:transcribe:us-east-1:000000000000:vocabulary/"]
hostile_strings |= st.builds(
    str.__add__,
    st.sampled_from(ACCEPTED_PREFIXES),
    st.text(alphabet=st.characters() | st.characters(categories=["Cs"]), max_size=6),
)

# the operations fuzzed: starts (into a bucket that does not exist), reads and listings; never deletes
FUZZED = {
    "StartMedicalTranscriptionJob": "start_medical_transcription_job",
    "StartMedicalScribeJob": "start_medical_scribe_job",
    "GetMedicalTranscriptionJob": "get_medical_transcription_job",
    "ListMedicalTranscriptionJobs": "list_medical_transcription_jobs",
    "ListMedicalScribeJobs": "list_medical_scribe_jobs",
    "ListMedicalVocabularies": "list_medical_vocabularies",
    "ListVocabularyFilters": "list_vocabulary_filters",
    "ListTagsForResource": "list_tags_for_resource",
}


@st.composite
def requests(draw, extras: bool = True):
    """An operation and fields drawn from its input shape: each member absent, hostile or any JSON; with
    ``extras``, a few unknown members too."""
    import botocore.session

    action = draw(st.sampled_from(sorted(FUZZED)))
    shape = botocore.session.get_session().get_service_model("transcribe").operation_model(action).input_shape
    params = {}
    for member in shape.members:
        choice = draw(st.sampled_from(["absent", "hostile", "hostile", "json"]))
        if choice == "hostile":
            params[member] = draw(hostile_strings)
        elif choice == "json":
            params[member] = draw(json_values)
    if action.startswith("Start"):
        absent_media = {"MediaFileUri": f"s3://{FUZZ_BUCKET}/x.wav"}
        params["Media"] = draw(st.sampled_from([absent_media, params.get("Media")]))
    if extras:
        params.update(draw(st.dictionaries(st.text(max_size=10), json_values, max_size=2)))
    return action, params


FUZZ_SETTINGS = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ_SETTINGS
@given(request=requests(extras=False))
def test_generated_requests_through_boto3_never_get_a_5xx(transcribe_unvalidated, request):
    action, params = request
    method = getattr(transcribe_unvalidated, FUZZED[action])
    try:
        answer = method(**params)
    except ClientError as error:
        status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        event(f"{status} {error.response['Error']['Code']}")
        assert status < 500, (action, error.response["Error"])
        assert error.response["Error"]["Code"] not in ("", "InternalFailureException")
    except (TypeError, ValueError, AttributeError, KeyError):
        return  # botocore could not serialize it (a dict where a list goes): nothing was sent
    else:
        event("200")
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


@FUZZ_SETTINGS
@given(
    request=requests(),
    target=st.none() | st.none() | st.text(alphabet=st.characters(max_codepoint=255), max_size=30),
    body=st.none() | st.none() | json_values.map(lambda doc: json.dumps(doc).encode()) | st.binary(),
    host=st.none() | st.none() | st.sampled_from(["[", "example.com:99999", "\u00e9"]),
)
def test_generated_raw_requests_never_get_a_5xx(stack, request, target, body, host):
    """Signed requests whose target, body (the operation's fields, or any JSON or bytes) or Host is odd."""
    action, params = request
    target = f"Transcribe.{action}" if target is None else target
    body = json.dumps(params).encode() if body is None else body
    try:
        headers = signed(stack, target, body, extra={"Host": host} if host else None)
    except ValueError:  # botocore cannot sign for such a Host: send it with a malformed signature
        headers = {"X-Amz-Target": target, "Authorization": "AWS4-HMAC-SHA256 Credential=x", "Host": host}
    status, document = post(stack, body, headers)
    event(f"{status} {document.get('__type', '')}")
    assert status < 500, (status, document)
