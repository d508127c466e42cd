"""The embedded services: a port in use is refused clearly, and stopping leaves no process behind."""

from __future__ import annotations

import os
import socket

import pytest

from medscribe_harness.devstack import LocalStack, ServiceError, free_port


def test_port_in_use_gives_a_clear_message(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with (
            pytest.raises(ServiceError, match=f"port {port} on 127.0.0.1 is already in use"),
            LocalStack.start(s3_port=port, with_engine=False, run_dir=tmp_path),
        ):
            pass


def test_stop_leaves_no_process(tmp_path):
    port = free_port()
    with LocalStack.start(s3_port=port, with_engine=False, run_dir=tmp_path) as stack:
        pid = stack.s3.process.pid
        os.kill(pid, 0)  # running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
