"""The field checks of incoming control messages (bridge/node/connection.py): a
field of another class than the handlers use as a key makes a malformed signal."""
import pytest

from bridge.etf.types import Atom, Pid, Reference
from bridge.node.connection import _FIELDS, _fields_ok

SAMPLE = {Pid: Pid(Atom("n@h"), 1, 0, 1), Atom: Atom("name"),
          Reference: Reference(Atom("n@h"), 1, (1, 2, 3)), None: (1, [2])}


def good(tag: int) -> tuple:
    return (tag,) + tuple(SAMPLE[want] for want in _FIELDS[tag])


@pytest.mark.parametrize("tag", sorted(_FIELDS))
def test_each_checked_field_must_have_its_class(tag):
    assert _fields_ok(good(tag))
    for i, want in enumerate(_FIELDS[tag]):
        if want is not None:
            bad = list(good(tag))
            bad[i + 1] = (bad[i + 1],)      # hashable, but not what the handler expects
            assert not _fields_ok(tuple(bad)), (tag, i)


@pytest.mark.parametrize("tag", sorted(_FIELDS))
def test_a_field_more_or_less_is_malformed(tag):
    assert not _fields_ok(good(tag) + (1,))
    assert not _fields_ok(good(tag)[:-1])


def test_tags_without_a_spec_pass():
    assert _fields_ok((99, "anything", [1]))
