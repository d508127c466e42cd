"""Real-time streams over HTTP/2 with AWS event-stream framing: StartMedicalStreamTranscription, and
HealthScribe's StartMedicalScribeStream / GetMedicalScribeStream.

==================  ====================================================================================
module              does
==================  ====================================================================================
``eventstream``     the binary framing: messages decoded (botocore's reader) and encoded, CRC32s
``signing``         SigV4 of the request (the batch API's verifier) and of every event chunk in turn
``settings``        the request headers checked as the service model says; PCM to 16 kHz float32
``recognition``     incremental recognition of one channel: partials of a growing window, then finals
``results``         vocabulary, online speaker labels, PHI, and the ``MedicalResult`` JSON
``app``             the application (ASGI-style): routes, both directions of a stream, limits, timeouts
``wire``            what the operations share: restJson1 errors and JSON responses, how a stream ends
``scribe_settings`` StartMedicalScribeStream's headers and ConfigurationEvent, checked
``sessions``        HealthScribe streaming sessions (SQLite) and their audio, for pause / resume
``scribe``          StartMedicalScribeStream: a session's stream, both directions
``scribe_details``  GetMedicalScribeStream: plain SigV4 over HTTP/2, the session's details
``analytics``       post-stream analytics: the session's audio through the batch HealthScribe pipeline
``listener``        cleartext HTTP/2 (prior knowledge) on its own port, with the ``h2`` library on asyncio
==================  ====================================================================================

Nothing here is imported by the batch API; :func:`medscribe_engine.server.main` imports it in the main
thread once the models are loaded, and starts the listener, when ``--stream-port`` is given. Its modules
import what they use at the top (no first import in a stream's thread).
"""
