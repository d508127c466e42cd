"""The offline engine: the AWS Transcribe Medical / HealthScribe API on loopback, recognition on the CPU.

Layout (after moto): ``app`` (the WSGI application: health, job pages, the signed JSON 1.1 protocol),
``responses`` (one handler per action), ``shapes`` (response structures), ``validation`` (request
checks), ``jobs`` (the job operations), ``store`` (the SQLite job table), ``workers`` (the worker pool
and retries), ``exceptions`` (AWS error codes), ``pipeline`` (the recognition stages and S3 access;
it imports nothing of the service layer), ``resources`` (pinned models), ``server`` (process
lifecycle). See README.md.
"""
