"""``pyssl-bridge --config FILE`` as an operator runs it: TLS distribution from the
file, JSON logs, and the refusals (no traceback, exit status 2)."""
import json
import os
import signal
import socket
import subprocess
import sys

from bridge.etf import Atom

from conftest import unique
from distpki import DistPKI, tls_erl

A = Atom
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cli(*args, env_extra=None):
    env = dict(os.environ)
    env.pop("PYSSL_BRIDGE_COOKIE", None)
    env.update(env_extra or {})
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, "-m", "bridge", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def test_config_file_with_tls_dist_and_json_logs(tmp_path, cookie):
    dpki = DistPKI(tmp_path)
    cookie_path = tmp_path / "cookie"
    cookie_path.write_text(cookie + "\n")
    os.chmod(cookie_path, 0o400)
    name = unique("clitls")
    conf = tmp_path / "bridge.toml"
    conf.write_text(f'''
name = "{name}"
cookie_file = "{cookie_path}"
listen = "127.0.0.1"
log_format = "json"
workers = 4

[tls_dist]
certfile = "{dpki.bridge.cert_path}"
keyfile = "{dpki.bridge.key_path}"
cacertfile = "{dpki.ca.cert_path}"
verify = "verify_peer"
fail_if_no_peer_cert = true
''')
    proc = run_cli("--config", str(conf))
    node = None
    try:
        line = proc.stdout.readline()
        assert "ready" in line and name in line, proc.stderr.read() if proc.poll() is not None else line
        node = tls_erl(unique("clitlserl"), cookie, dpki.optfile("clinode", dpki.node))
        assert node.eval(f"rpc:call('{name}', pyssl_bridge, echo, [hi])") == A("hi")
        plain = tls_erl(unique("cliforeign"), cookie, dpki.optfile("cliforeign", dpki.foreign))
        try:
            assert plain.eval(f"net_adm:ping('{name}')") == A("pang")
        finally:
            plain.stop()
    finally:
        if node is not None:
            node.stop()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    records = [json.loads(line) for line in err.splitlines() if line.strip()]   # every line is JSON
    messages = [r["message"] for r in records]
    assert any(m.startswith(f"ready: {name}, tls distribution") for m in messages)
    assert any(m == f"connected to {node.name}" for m in messages)
    refused = [r for r in records if r["logger"] == "bridge.tlsdist"]
    assert any("Unknown CA" in r["message"] for r in refused)
    # the same as fields, for log shippers
    assert any(r.get("event") == "tls_dist_handshake_failed" and r.get("alert") == "unknown_ca"
               and r.get("peer", "").startswith("127.0.0.1:") for r in refused)
    assert "stopping" in messages


def test_plain_dist_on_a_non_loopback_address_is_refused(tmp_path):
    proc = run_cli("--name", unique("clirefuse"), "--cookie", "x", "--listen", "0.0.0.0")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and out == ""
    assert "refusing plain-TCP distribution on 0.0.0.0" in err and "--insecure-plain-dist" in err
    assert "Traceback" not in err


def test_bad_config_file_exits_2_with_the_reason(tmp_path):
    conf = tmp_path / "bad.toml"
    conf.write_text("[tls_dist]\ncertfile = 'c.pem'\nverify = 'maybe'\n")
    proc = run_cli("--config", str(conf))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and out == ""
    assert err == f"pyssl-bridge: {conf}: tls_dist.verify must be one of verify_peer, verify_none, not 'maybe'\n"


def test_missing_tls_files_exit_2_before_anything_listens(tmp_path):
    proc = run_cli("--name", unique("climissing"), "--cookie", "x",
                   "--tls-dist-certfile", str(tmp_path / "none.pem"), "--tls-dist-verify", "verify_none")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "cannot read the certificate file" in err and "Traceback" not in err


def test_systemd_notify_ready_and_stopping(tmp_path):
    # Type=notify: the bridge says READY=1 once it serves, STOPPING=1 on SIGTERM
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(60)
    proc = run_cli("--name", unique("clinotify"), "--cookie", "x", env_extra={"NOTIFY_SOCKET": path})
    signalled = False
    try:
        assert sock.recv(100) == b"READY=1"
        assert "ready" in proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        signalled = True
        assert sock.recv(100) == b"STOPPING=1"
    finally:
        # one SIGTERM only: a second one, arriving once the loop (and its handler)
        # is gone, would kill the exiting process with -15
        if not signalled:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
        sock.close()
    assert proc.returncode == 0
