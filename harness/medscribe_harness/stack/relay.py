"""A TCP relay in front of a service, which can be cut: the network between the stack and S3.

Everything in the distributed stack reaches the local S3 through this relay, so an outage can be
made without stopping moto (whose buckets live in memory): :meth:`TcpRelay.cut` closes the listening
socket and resets the open connections (clients get "connection refused" / "reset", as when a
service is unreachable), :meth:`TcpRelay.restore` listens again on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading


class TcpRelay:
    """Forward ``listen_host:listen_port`` to ``target_host:target_port``, one thread pair per connection."""

    def __init__(self, target_host: str, target_port: int, listen_port: int, listen_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.listen = (listen_host, listen_port)
        self._server: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.connections_accepted = 0

    @property
    def endpoint(self) -> str:
        return f"http://{self.listen[0]}:{self.listen[1]}"

    @property
    def up(self) -> bool:
        return self._server is not None

    def start(self) -> TcpRelay:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(self.listen)
        server.listen(128)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), name="relay-accept", daemon=True).start()
        return self

    def cut(self) -> None:
        """Stop listening and reset every open connection."""
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
            server.close()
        with self._lock:
            connections, self._connections = self._connections, set()
        for sock in connections:
            with contextlib.suppress(OSError):
                # SO_LINGER 0: close sends RST, the peer sees "connection reset"
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.close()

    def restore(self) -> None:
        if self._server is None:
            self.start()

    stop = cut

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            self.connections_accepted += 1
            with self._lock:
                self._connections.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pipe, args=(source, sink), name="relay-pipe", daemon=True
                ).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
            with self._lock:
                done = source in self._connections and sink not in self._connections
                self._connections.discard(source)
            if done:
                for sock in (source, sink):
                    with contextlib.suppress(OSError):
                        sock.close()
