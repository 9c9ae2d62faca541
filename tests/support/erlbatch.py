"""Run many cases through a fresh ``erl`` in one go (no distribution needed).

``run(terms, body)`` writes ``terms`` (an ETF-encodable list) to a file, starts
``erl -noshell`` with ``body`` evaluated after ``InFile`` and ``OutFile`` are
bound (the body reads the cases from ``InFile`` and must write its ETF answer
to ``OutFile``, then ``halt()``), and returns the decoded answer.
"""
import subprocess
import tempfile
from pathlib import Path

from bridge.etf import binary_to_term, term_to_binary


def run(terms, body: str, timeout: float = 120):
    with tempfile.TemporaryDirectory() as d:
        inp, out = Path(d, "in"), Path(d, "out")
        inp.write_bytes(term_to_binary(terms))
        script = f'InFile = "{inp}", OutFile = "{out}",' + body
        subprocess.run(["erl", "-noshell", "-noinput", "-eval", script],
                       check=True, timeout=timeout, capture_output=True)
        return binary_to_term(out.read_bytes())
