"""Byte and packet counters of a connection's TCP socket, as ``inet:getstat/2`` keeps them.

The inet driver counts each read that delivered data and each write it was given
(``inet_input_count`` / ``inet_output_count`` in erts' inet_drv.c): octets, count,
largest, running average and, for reads, the running average deviation from it.
``ssl:getstat/1,2`` reports these for the TCP socket under the TLS connection, so
what is counted here is ciphertext: every chunk read from the socket and every
chunk handed to it.
"""
from __future__ import annotations


class IOStats:
    __slots__ = (
        "recv_avg",
        "recv_cnt",
        "recv_dvi",
        "recv_max",
        "recv_oct",
        "send_avg",
        "send_cnt",
        "send_max",
        "send_oct",
    )

    def __init__(self):
        self.recv_oct = self.recv_cnt = self.recv_max = 0
        self.send_oct = self.send_cnt = self.send_max = 0
        self.recv_avg = self.recv_dvi = self.send_avg = 0.0

    def received(self, n: int) -> None:
        cnt = self.recv_cnt + 1
        self.recv_cnt = cnt
        self.recv_oct += n
        self.recv_max = max(self.recv_max, n)
        avg = self.recv_avg + (n - self.recv_avg) / cnt
        self.recv_avg = avg
        self.recv_dvi += (abs(n - avg) - self.recv_dvi) / cnt

    def sent(self, n: int) -> None:
        cnt = self.send_cnt + 1
        self.send_cnt = cnt
        self.send_oct += n
        self.send_max = max(self.send_max, n)
        self.send_avg += (n - self.send_avg) / cnt

    def value(self, name: str, send_pend: int) -> int:
        """One ``inet:stat_option()``'s value (an integer, as inet reports them)."""
        if name == "send_pend":
            return send_pend
        return int(getattr(self, name))
