"""bridge.config, bridge.logsetup and the CLI's use of them, without starting a node."""
import io
import json
import logging
import os

import pytest

from bridge import cli, config, logsetup
from bridge.config import ConfigError


def args(*argv):
    return cli.parse_args(list(argv))


def write(tmp_path, text, name="bridge.toml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


# ---- the file ---------------------------------------------------------------------------------
def test_full_file_is_read(tmp_path):
    path = write(tmp_path, '''
name = "b1@host.example"
cookie_file = "/etc/pyssl-bridge/cookie"
listen = "10.0.0.5"
dist_port = 4370
ticktime = 30
workers = 8
log_level = "debug"
log_format = "json"

[tls_dist]
certfile = "/etc/pyssl-bridge/node.pem"
keyfile = "/etc/pyssl-bridge/node.key"
cacertfile = "/etc/pyssl-bridge/ca.pem"
verify = "verify_peer"
fail_if_no_peer_cert = true
versions = ["tlsv1.2"]
''')
    s = config.settings(args("--config", path))
    assert (s.name, s.cookie_file, s.listen, s.dist_port, s.ticktime, s.workers) == \
        ("b1@host.example", "/etc/pyssl-bridge/cookie", "10.0.0.5", 4370, 30.0, 8)
    assert (s.log_level, s.log_format) == ("debug", "json")
    assert not s.cookie_from_flag
    opts = config.tls_options(s)
    assert opts.certfile == "/etc/pyssl-bridge/node.pem" and opts.versions == ("tlsv1.2",)


def test_no_file_gives_the_defaults():
    s = config.settings(args())
    assert (s.listen, s.dist_port, s.ticktime, s.log_level, s.log_format) == \
        ("127.0.0.1", 0, 60.0, "info", "text")
    assert config.tls_options(s) is None and not s.insecure_plain_dist


@pytest.mark.parametrize("text, words", [
    ('listen = [1\n', "not valid TOML"),
    ('name = "a@h"\nname = "b@h"\n', "not valid TOML"),
    ('nmae = "a@h"\n', "unknown key nmae"),
    ('ticktime = "sixty"\n', "ticktime must be an integer or a number"),
    ('ticktime = 0\n', "ticktime must be at least 1"),
    ('workers = true\n', "workers must be an integer"),
    ('dist_port = -1\n', "dist_port must be at least 0"),
    ('log_level = "loud"\n', "log_level must be one of debug, info, warning, error"),
    ('log_format = "xml"\n', "log_format must be one of text, json"),
    ('insecure_plain_dist = "yes"\n', "insecure_plain_dist must be true or false"),
    ('cookie = "secret"\n', "cookie is not a config file setting"),
    ('name = "a@h"\nsname = "a"\n', "name and sname exclude each other"),
    ('tls_dist = "on"\n', "tls_dist must be a table"),
    ('[tls_dist]\ncertfle = "x"\n', "unknown key tls_dist.certfle"),
    ('[tls_dist]\nverify = "yes"\n', "tls_dist.verify must be one of verify_peer, verify_none"),
    ('[tls_dist]\nversions = "tlsv1.2"\n', "tls_dist.versions must be an array"),
    ('[tls_dist]\nversions = [1]\n', "tls_dist.versions must be an array of strings"),
    ('[tls_dist]\nkeyfile = "k.pem"\n', "without a certificate"),
])
def test_bad_file_is_a_config_error_naming_the_problem(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=words) as info:
        config.settings(args("--config", path))
    if "without a certificate" not in words:
        assert path in str(info.value)


def test_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file .*No such file"):
        config.settings(args("--config", str(tmp_path / "absent.toml")))
    p = tmp_path / "latin1.toml"
    p.write_bytes(b'name = "caf\xe9@h"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.settings(args("--config", str(p)))


# ---- precedence -------------------------------------------------------------------------------
def test_flags_override_the_file(tmp_path):
    path = write(tmp_path, '''
name = "file@h"
listen = "127.0.0.2"
ticktime = 30
log_level = "warning"
log_format = "json"
cookie_file = "/from/file"
[tls_dist]
certfile = "file.pem"
verify = "verify_none"
''')
    s = config.settings(args("--config", path, "--sname", "flag", "--listen", "127.0.0.3",
                             "--ticktime", "7", "--log-format", "text", "--cookie-file", "/from/flag",
                             "--tls-dist-certfile", "flag.pem", "--no-tls-dist-fail-if-no-peer-cert"))
    assert (s.name, s.sname) == (None, "flag")      # one name flag replaces the file's name
    assert (s.listen, s.ticktime, s.log_format) == ("127.0.0.3", 7.0, "text")
    assert s.log_level == "warning"                  # not given as a flag: the file's
    assert s.cookie_file == "/from/flag" and s.cookie_from_flag
    assert s.tls_dist == {"certfile": "flag.pem", "verify": "verify_none",
                          "fail_if_no_peer_cert": False}


def test_verbose_flag_means_debug_over_the_file(tmp_path):
    path = write(tmp_path, 'log_level = "error"\n')
    assert config.settings(args("--config", path, "-v")).log_level == "debug"


def test_fail_if_no_peer_cert_follows_verify_none(tmp_path):
    s = config.settings(args("--tls-dist-certfile", "c.pem", "--tls-dist-verify", "verify_none"))
    assert config.tls_options(s).fail_if_no_peer_cert is False


def test_cookie_precedence(tmp_path, monkeypatch):
    def cookie_file(name, text):
        p = tmp_path / name
        p.write_text(text + "\n")
        os.chmod(p, 0o400)
        return str(p)
    from_file = cookie_file("file_cookie", "FILECOOKIE")
    from_flag = cookie_file("flag_cookie", "FLAGCOOKIE")
    conf = write(tmp_path, f'cookie_file = "{from_file}"\n')
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(cli.COOKIE_ENV, raising=False)
    assert cli.cookie_from(config.settings(args("--config", conf))) == "FILECOOKIE"
    monkeypatch.setenv(cli.COOKIE_ENV, "ENVCOOKIE")
    assert cli.cookie_from(config.settings(args("--config", conf))) == "ENVCOOKIE"
    assert cli.cookie_from(config.settings(args("--config", conf, "--cookie-file", from_flag))) == "FLAGCOOKIE"
    assert cli.cookie_from(config.settings(args("--config", conf, "--cookie", "ARG"))) == "ARG"


def test_world_readable_cookie_file_from_the_config_is_refused(tmp_path, monkeypatch):
    p = tmp_path / "cookie"
    p.write_text("OPEN\n")
    os.chmod(p, 0o644)
    conf = write(tmp_path, f'cookie_file = "{p}"\n')
    monkeypatch.delenv(cli.COOKIE_ENV, raising=False)
    with pytest.raises(OSError, match="owner only"):
        cli.cookie_from(config.settings(args("--config", conf)))


# ---- where distribution may listen ------------------------------------------------------------
@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.3.4.5", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("bridge.example", False)])
def test_is_loopback(host, loopback):
    from bridge.tlsdist import is_loopback
    assert is_loopback(host) is loopback


def test_plain_dist_off_loopback_is_refused_unless_insecure_is_said():
    with pytest.raises(ConfigError, match="refusing plain-TCP distribution on 0.0.0.0.*--insecure-plain-dist"):
        cli.carrier_for(config.settings(args("--listen", "0.0.0.0")))
    assert cli.carrier_for(config.settings(args("--listen", "0.0.0.0", "--insecure-plain-dist"))) is None
    assert cli.carrier_for(config.settings(args())) is None


def test_insecure_plain_dist_from_the_file(tmp_path):
    conf = write(tmp_path, 'listen = "0.0.0.0"\ninsecure_plain_dist = true\n')
    assert cli.carrier_for(config.settings(args("--config", conf))) is None


def test_tls_settings_are_checked_at_start(tmp_path, pki):
    def carrier(*extra):
        return cli.carrier_for(config.settings(args("--tls-dist-certfile", pki.server.cert_path, *extra)))
    with pytest.raises(ConfigError, match="verify_peer needs a CA file"):
        carrier("--tls-dist-keyfile", pki.server.key_path)
    with pytest.raises(ConfigError, match="no private key in"):
        carrier("--tls-dist-cacertfile", pki.ca.cert_path)
    with pytest.raises(ConfigError, match="key does not match certificate"):
        carrier("--tls-dist-keyfile", pki.client.key_path, "--tls-dist-cacertfile", pki.ca.cert_path)
    with pytest.raises(ConfigError, match="cannot read the CA file"):
        carrier("--tls-dist-keyfile", pki.server.key_path, "--tls-dist-cacertfile", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="no certificate in the CA file"):
        carrier("--tls-dist-keyfile", pki.server.key_path, "--tls-dist-cacertfile", pki.server.key_path)
    with pytest.raises(ConfigError, match="versions must be among"):
        carrier("--tls-dist-keyfile", pki.server.key_path, "--tls-dist-cacertfile", pki.ca.cert_path,
                "--tls-dist-versions", "sslv3")
    with pytest.raises(ConfigError, match="fail_if_no_peer_cert needs verify = verify_peer"):
        carrier("--tls-dist-keyfile", pki.server.key_path, "--tls-dist-verify", "verify_none",
                "--tls-dist-fail-if-no-peer-cert")
    ok = carrier("--tls-dist-keyfile", pki.server.key_path, "--tls-dist-cacertfile", pki.ca.cert_path)
    assert ok.name == "tls" and ok.server_cfg.fail_if_no_peer_cert


# ---- logs ----------------------------------------------------------------------------------
def test_json_logs_are_one_object_per_line():
    out = io.StringIO()
    logsetup.configure("info", "json", stream=out)
    try:
        log = logging.getLogger("bridge.test")
        log.debug("not shown")
        log.info("two\nlines %s", "here", extra={"fields": {"peer": "n@h"}})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        logsetup.configure("warning", "text")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "info" and first["logger"] == "bridge.test"
    assert first["message"] == "two\nlines here" and first["peer"] == "n@h"
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert second["level"] == "error" and "ValueError: boom" in second["exception"]


def test_text_logs_keep_their_format():
    out = io.StringIO()
    logsetup.configure("debug", "text", stream=out)
    try:
        logging.getLogger("bridge.test").debug("hello")
    finally:
        logsetup.configure("warning", "text")
    assert out.getvalue().rstrip().endswith("DEBUG bridge.test: hello")


def test_main_prints_config_errors_without_traceback(tmp_path, capsys):
    conf = write(tmp_path, "workers = 'many'\n")
    assert cli.main(["--config", conf]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyssl-bridge: ") and "workers must be an integer" in err
    assert "Traceback" not in err


def test_the_documented_example_file_is_valid():
    # docs/examples/bridge.toml is what operators copy: every key in it must parse
    from pathlib import Path
    example = Path(__file__).resolve().parents[3] / "docs" / "examples" / "bridge.toml"
    s = config.settings(args("--config", str(example)))
    assert s.listen == "0.0.0.0" and s.log_format == "json" and s.tls_dist["verify"] == "verify_peer"


def test_tls_files_that_do_not_load(tmp_path, pki):
    from bridge.tlsdist import DistTLSError, DistTLSOptions, configs
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a certificate")
    enc = tmp_path / "enc.key"
    enc.write_bytes(pki.server.encrypted_key_pem(b"sesame"))

    def opts(**kw):
        base = dict(certfile=pki.server.cert_path, keyfile=pki.server.key_path, cacertfile=pki.ca.cert_path)
        base.update(kw)
        return DistTLSOptions(**base)
    with pytest.raises(DistTLSError, match="no usable certificate in"):
        configs(opts(certfile=str(junk)))
    with pytest.raises(DistTLSError, match="no usable certificate in the CA file"):
        configs(opts(cacertfile=str(junk)))
    with pytest.raises(DistTLSError, match="bad key"):
        configs(opts(keyfile=str(enc), password="wrong"))
    assert configs(opts(keyfile=str(enc), password="sesame"))[0].password == b"sesame"
    with pytest.raises(DistTLSError, match="depth must be a non-negative integer"):
        configs(opts(depth=-1))
    with pytest.raises(DistTLSError, match="versions must be among"):
        configs(opts(versions=()))
    with pytest.raises(DistTLSError, match="verify must be verify_peer or verify_none"):
        configs(opts(verify="maybe"))
    # the key may be in the certificate file
    both = tmp_path / "both.pem"
    both.write_bytes(pki.server.pem + pki.server.key_pem)
    server, client = configs(opts(certfile=str(both), keyfile=None))
    assert server.role == "server" and client.role == "client" and server.cert_chain == client.cert_chain


def test_check_config(tmp_path, pki, capsys, monkeypatch):
    monkeypatch.delenv(cli.COOKIE_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    cookie = tmp_path / "cookie"
    cookie.write_text("SECRET\n")
    os.chmod(cookie, 0o400)
    conf = write(tmp_path, f'''name = "b@127.0.0.1"
cookie_file = "{cookie}"
listen = "127.0.0.1"
[tls_dist]
certfile = "{pki.server.cert_path}"
keyfile = "{pki.server.key_path}"
cacertfile = "{pki.ca.cert_path}"
''')
    assert cli.main(["--config", conf, "--check-config"]) == 0
    out = capsys.readouterr().out
    assert out == (f"config ok: b@127.0.0.1, tls distribution on 127.0.0.1:any, cookie from {cookie}, "
                   "log info text\n")
    # a flag that breaks it
    assert cli.main(["--config", conf, "--check-config", "--tls-dist-keyfile", pki.client.key_path]) == 2
    assert "key does not match certificate" in capsys.readouterr().err
    # an unusable cookie file: exit 1, as serve would
    os.chmod(cookie, 0o644)
    assert cli.main(["--config", conf, "--check-config"]) == 1
    assert "owner only" in capsys.readouterr().err
    # no cookie source: ~/.erlang.cookie named, not created
    assert cli.main(["--check-config", "--listen", "0.0.0.0", "--insecure-plain-dist"]) == 0
    assert "tcp distribution on 0.0.0.0:any, cookie from " + str(tmp_path / ".erlang.cookie") in \
        capsys.readouterr().out
    assert not (tmp_path / ".erlang.cookie").exists()


def test_stats_interval_from_the_file_and_the_flag(tmp_path):
    path = write(tmp_path, "stats_interval = 10\n")
    assert config.settings(args("--config", path)).stats_interval == 10.0
    assert config.settings(args("--config", path, "--stats-interval", "0")).stats_interval == 0.0
    assert config.settings(args()).stats_interval is None
    with pytest.raises(ConfigError, match="stats_interval must be at least 0"):
        config.settings(args("--config", write(tmp_path, "stats_interval = -1\n", "neg.toml")))


@pytest.mark.parametrize("argv, words", [
    (["--workers", "0"], "flags: --workers must be at least 1"),
    (["--workers", "-3"], "flags: --workers must be at least 1"),
    (["--dist-port", "-5"], "flags: --dist-port must be at least 0"),
    (["--dist-port", "70000"], "flags: --dist-port must be at most 65535"),
    (["--ticktime", "0"], "flags: --ticktime must be at least 1"),
    (["--stats-interval", "-1"], "flags: --stats-interval must be at least 0"),
    (["--tls-dist-certfile", "c.pem", "--tls-dist-depth", "-1"], "flags: --tls-dist-depth must be at least 0"),
])
def test_flags_get_the_files_range_checks(argv, words):
    with pytest.raises(ConfigError, match=words):
        config.settings(args(*argv))


def test_out_of_range_dist_port_in_the_file(tmp_path):
    with pytest.raises(ConfigError, match="dist_port must be at most 65535"):
        config.settings(args("--config", write(tmp_path, "dist_port = 65536\n")))
