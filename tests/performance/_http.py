"""HTTP/1.1 keep-alive over asyncio streams, for the load generators that run as
processes of their own (no Django, no client library: the client's own cost
stays small and known)."""

import asyncio
from dataclasses import dataclass


@dataclass
class Response:
    status: int
    headers: dict[bytes, bytes]  # lower-cased names, stripped values
    body: bytes


class KeepAliveConnection:
    """One keep-alive HTTP/1.1 connection; opened again when the server closed it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reconnects = 0

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def exchange(self, data: bytes) -> Response:
        """Send one encoded request and read its answer. A connection the server
        had closed before reading the request is opened again and the request
        sent once more (it never reached the application)."""
        for attempt in range(2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(
                    self.host, self.port
                )
                if attempt:
                    self.reconnects += 1
            self.writer.write(data)
            try:
                return await self._response()
            except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
                self.close()
                if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                    raise
        raise ConnectionError("the server closed the connection twice")

    async def _response(self) -> Response:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name:
                headers[name.strip().lower()] = value.strip()
        length = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        close = b"close" in headers.get(b"connection", b"").lower()
        if chunked:
            body = await self._chunked_body()
        elif length is not None:
            body = await self.reader.readexactly(int(length))
        else:
            body = await self.reader.read()
            close = True
        if close:
            self.close()
        return Response(status, headers, body)

    async def _chunked_body(self) -> bytes:
        body = b""
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await self.reader.readexactly(size + 2)
            if not size:
                return body
            body += chunk[:-2]
