"""The ``pyssl-bridge`` command (``python -m bridge``) as a subprocess."""
import os
import signal
import socket
import stat
import subprocess
import sys

import pytest

from bridge.etf import Atom

from conftest import unique

A = Atom
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cli(*args, home=None, env_extra=None):
    env = dict(os.environ)
    env.pop("PYSSL_BRIDGE_COOKIE", None)
    env.update(env_extra or {})
    if home is not None:
        env["HOME"] = str(home)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, "-m", "bridge", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _names() -> str:
    return subprocess.run(["epmd", "-names"], capture_output=True, text=True).stdout


def _stop(proc, sig=signal.SIGTERM):
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, out, err


def test_cookie_file_created_like_erl_and_sigint_exits_cleanly(tmp_path, make_erl):
    name = unique("clicookie")
    proc = _cli("--name", name, home=tmp_path)
    try:
        line = proc.stdout.readline()
        assert "ready" in line and name in line
        path = tmp_path / ".erlang.cookie"
        cookie = path.read_text()
        assert len(cookie) == 20 and cookie.isalpha() and cookie.isupper()
        assert stat.S_IMODE(path.stat().st_mode) == 0o400
        node = make_erl(cookie=cookie)
        assert node.eval(f"net_adm:ping('{name}')") == A("pong")
        code, out, err = _stop(proc, signal.SIGINT)
        assert code == 0
        assert out == ""                       # the ready line is the only stdout output
        assert "connected to" in err           # connections are logged (stderr)
        assert name.split("@")[0] not in _names()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_existing_cookie_file_is_used(tmp_path, make_erl):
    path = tmp_path / ".erlang.cookie"
    path.write_text("SOMEEXISTINGCOOKIE\n")
    path.chmod(0o400)
    name = unique("cliexisting")
    proc = _cli("--name", name, home=tmp_path)
    try:
        assert "ready" in proc.stdout.readline()
        assert make_erl(cookie="SOMEEXISTINGCOOKIE").eval(f"net_adm:ping('{name}')") == A("pong")
        assert make_erl(cookie="OTHER").eval(f"net_adm:ping('{name}')") == A("pang")
    finally:
        _stop(proc)


def test_sname_uses_the_short_host_name(tmp_path, cookie):
    alive = unique("clisname").split("@")[0]
    proc = _cli("--sname", alive, "--cookie", cookie, home=tmp_path)
    try:
        line = proc.stdout.readline()
        assert f"{alive}@{socket.gethostname().split('.')[0]}" in line and "ready" in line
        assert f"name {alive} at port" in _names()
    finally:
        code, _, _ = _stop(proc)
    assert code == 0
    assert alive not in _names()


def test_unusable_cookie_file_is_a_clear_error(tmp_path):
    (tmp_path / ".erlang.cookie").mkdir()       # a directory where the file should be
    proc = _cli("--name", unique("clibadcookie"), home=tmp_path)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 1
    assert "cookie" in err and "Traceback" not in err


def test_bad_arguments_exit_with_usage():
    proc = _cli("--name", "a@b", "--sname", "c")
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 2 and "not allowed with" in err


def test_cookie_file_option(tmp_path, make_erl):
    path = tmp_path / "bridge.cookie"
    path.write_text("FROMAFILE\nsecond line is ignored\n")
    path.chmod(0o600)
    name = unique("clicookiefile")
    proc = _cli("--name", name, "--cookie-file", str(path), home=tmp_path,
                env_extra={"PYSSL_BRIDGE_COOKIE": "NOTTHISONE"})
    try:
        assert "ready" in proc.stdout.readline()
        assert make_erl(cookie="FROMAFILE").eval(f"net_adm:ping('{name}')") == A("pong")
        assert not (tmp_path / ".erlang.cookie").exists()     # the default is not touched
    finally:
        _stop(proc)


def test_cookie_from_the_environment(tmp_path, make_erl):
    name = unique("clicookieenv")
    proc = _cli("--name", name, home=tmp_path, env_extra={"PYSSL_BRIDGE_COOKIE": "FROMTHEENV"})
    try:
        assert "ready" in proc.stdout.readline()
        assert make_erl(cookie="FROMTHEENV").eval(f"net_adm:ping('{name}')") == A("pong")
        assert not (tmp_path / ".erlang.cookie").exists()
    finally:
        _stop(proc)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_cookie_file_readable_by_others_is_refused_like_erl(tmp_path, mode):
    path = tmp_path / "open.cookie"
    path.write_text("SECRET")
    path.chmod(mode)
    proc = _cli("--name", unique("clicookieopen"), "--cookie-file", str(path), home=tmp_path)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 1
    assert "owner only" in err and "Traceback" not in err


def test_missing_cookie_file_is_a_clear_error(tmp_path):
    proc = _cli("--name", unique("clicookiemissing"), "--cookie-file", str(tmp_path / "nope"),
                home=tmp_path)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 1
    assert "cookie" in err and "Traceback" not in err


def test_cookie_and_cookie_file_together_is_a_usage_error(tmp_path):
    proc = _cli("--cookie", "a", "--cookie-file", str(tmp_path / "x"))
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 2 and "not allowed with" in err


def test_busy_poll_bridge_serves_calls_and_stops(tmp_path, make_erl, cookie):
    """With --busy-poll the loop polls after distribution traffic instead of sleeping:
    calls are answered as without it, and the bridge still stops on SIGTERM."""
    name = unique("clibusypoll")
    proc = _cli("--name", name, "--cookie", cookie, "--busy-poll", "500", home=tmp_path)
    try:
        assert "ready" in proc.stdout.readline()
        node = make_erl(cookie=cookie)
        assert node.eval(f"net_adm:ping('{name}')") == A("pong")
        assert node.eval(f"[rpc:call('{name}', ssl, cipher_suites, [all, 'tlsv1.3']) =:= "
                         f"rpc:call('{name}', ssl, cipher_suites, [all, 'tlsv1.3']) || _ <- lists:seq(1, 50)]") \
            == [True] * 50
    finally:
        code, _, err = _stop(proc)
    assert code == 0, err


def test_busy_poll_out_of_bounds_is_a_usage_error():
    proc = _cli("--name", "a@b", "--busy-poll", "-1")
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 2 and "busy-poll" in err
