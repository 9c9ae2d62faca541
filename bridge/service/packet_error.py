"""The framing error, shared by the packet decoder (``bridge.service.packet``) and
the HTTP packet parser it uses (``bridge.service.http_packet``), so that the parser
does not import the decoder that imports it."""
from __future__ import annotations


class PacketError(Exception):
    """Data that cannot be framed (``decode_packet`` answers ``{error, invalid}``).

    ``reason`` is None: the reason ssl reports is ``{invalid_packet, Data}`` where
    Data is the whole buffer in the socket's mode; build it with
    ``invalid_packet(decoder.take_all(), binary)``.
    """

    def __init__(self, reason=None, message: str = "invalid packet"):
        super().__init__(message)
        self.reason = reason
