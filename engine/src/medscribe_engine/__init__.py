"""The offline engine: the AWS Transcribe Medical / HealthScribe API on loopback, recognition on the CPU.

Layout (after moto): ``responses`` (wire protocol), ``validation`` (request checks), ``models`` (job
state and workers), ``exceptions`` (AWS error codes), ``pipeline`` (the recognition stages),
``resources`` (pinned models), ``storage`` (S3), ``server`` (process lifecycle). See README.md.
"""
