"""Every option the bridge refuses by name has its row in docs/options.md (issue 10:
a refusal is for what the engine cannot do, and says why)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def refused_names() -> set[str]:
    src = (ROOT / "bridge/service/options/unsupported.py").read_text()
    return set(re.findall(r'\("([a-z_0-9]+)", (?:lambda|_[a-z_]+unsupported)', src)) \
        | set(re.findall(r'refuse\("([a-z_0-9]+)"', src))


def test_every_refusal_has_a_row_in_options_md():
    doc = (ROOT / "docs/options.md").read_text()
    rows = {m for line in doc.splitlines() if line.startswith("| ")
            for m in re.findall(r"`([a-z_0-9]+)`", line.split("|")[1])}
    names = refused_names()
    assert len(names) > 15                   # the patterns still find them
    assert names - rows == set()
