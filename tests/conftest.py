import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# the helpers (erlnode, bridgenode, certgen, sslcompare, erlbatch) import by name
sys.path.insert(0, str(Path(__file__).parent / "support"))
sys.path.insert(0, str(Path(__file__).parent))

from erlnode import ErlNode  # noqa: E402
from bridgenode import BridgeThread  # noqa: E402
from certgen import PKI  # noqa: E402

# Property tests: in `make test` (profile "ci") every run tries the same examples
# (derandomize), so a run cannot fail by the luck of the draw; `make fuzz` (profile
# "fuzz") draws fresh random examples, FUZZ_EXAMPLES per test. Fuzz tests take their
# example count from the profile: they do not set max_examples themselves.
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.register_profile("fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20000")),
                          deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_counter = iter(range(1, 1_000_000))


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid()}_{next(_counter)}@127.0.0.1"


@pytest.fixture(scope="session", autouse=True)
def epmd():
    subprocess.run(["epmd", "-daemon"], check=True)


@pytest.fixture(scope="session")
def cookie():
    return "C" + secrets.token_hex(10)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Certificates made for the test module (see certgen.PKI)."""
    return PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def pyssl_node(cookie, bridge):
    """An Erlang node with ssl started and the pyssl shim pointed at this module's bridge."""
    n = ErlNode(unique("erl"), cookie)
    n.eval(f"ok = ssl:start(), application:set_env(pyssl, bridge_node, '{bridge.name}'), ok = pyssl:start()")
    yield n
    n.stop()


@pytest.fixture(scope="module")
def bridge(cookie):
    b = BridgeThread(unique("bridge"), cookie)
    yield b
    b.stop()


@pytest.fixture(scope="module")
def erl(cookie):
    node = ErlNode(unique("erl"), cookie)
    yield node
    node.stop()


@pytest.fixture
def make_erl(cookie):
    nodes = []

    def make(**kw):
        n = ErlNode(unique("erl"), kw.pop("cookie", cookie), **kw)
        nodes.append(n)
        return n
    yield make
    for n in nodes:
        n.stop()
