"""The bridge's settings: a TOML file (``--config``) under the command-line flags.

Every setting has one entry in ``SCHEMA`` (its TOML key, type, default and the
flag that overrides it); ``settings(args)`` reads the file, checks it against the
schema and lays the flags given over it. Anything wrong — a file that cannot be
read, TOML that does not parse, an unknown key, a value of the wrong type — is a
``ConfigError`` whose text names the file and the key: the CLI prints it and
exits with status 2, never a traceback.

The cookie itself is never a file setting (``cookie_file`` names a 0400 file):
a config file is often readable by many, and the cookie is the whole of the
distribution's trust boundary (docs/operations.md, "Security model").
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
VERIFY = ("verify_peer", "verify_none")


class ConfigError(Exception):
    """The settings cannot be used; the text says where and why."""


@dataclass(frozen=True)
class Key:
    kind: type | tuple          # accepted Python type(s) after TOML parsing
    default: Any = None
    choices: tuple = ()
    minimum: Optional[float] = None
    maximum: Optional[float] = None


# Top-level keys. ``[tls_dist]`` holds TLS_SCHEMA's. The flag of a key is
# ``--`` + the key with ``_`` as ``-`` (``tls_dist.certfile``: ``--tls-dist-certfile``).
SCHEMA: dict[str, Key] = {
    "name": Key(str),                     # long node name NAME@HOST
    "sname": Key(str),                    # short node name
    "cookie_file": Key(str),
    "listen": Key(str, "127.0.0.1"),      # distribution listen address
    "dist_port": Key(int, 0, minimum=0, maximum=65535),  # 0: any free port (what EPMD is told)
    "ticktime": Key((int, float), 60.0, minimum=1),
    "workers": Key(int, None, minimum=1),  # handshake threads (hooks waiting for Erlang)
    "processes": Key(int, 1, minimum=1, maximum=64),  # bridge processes (bridge.group)
    "log_level": Key(str, "info", LOG_LEVELS),
    "log_format": Key(str, "text", LOG_FORMATS),
    "insecure_plain_dist": Key(bool, False),
    # seconds between the summary lines (None: $PYSSL_BRIDGE_STATS_INTERVAL or 60; 0: none)
    "stats_interval": Key((int, float), None, minimum=0),
}
TLS_SCHEMA: dict[str, Key] = {
    "certfile": Key(str),
    "keyfile": Key(str),
    "cacertfile": Key(str),
    "password": Key(str),
    "verify": Key(str, "verify_peer", VERIFY),
    "fail_if_no_peer_cert": Key(bool, True),
    "depth": Key(int, 10, minimum=0),
    "versions": Key(list, ["tlsv1.3", "tlsv1.2"]),
    "hostname_check": Key(bool, True),
}
# what the file may not hold, and why (said instead of "unknown key")
REFUSED = {
    "cookie": "put the cookie in a file readable by its owner only and name it with "
              "cookie_file (a config file is often readable by others)",
}


@dataclass
class Settings:
    name: Optional[str] = None
    sname: Optional[str] = None
    cookie: Optional[str] = None          # --cookie only
    cookie_file: Optional[str] = None
    cookie_from_flag: bool = False        # cookie_file came from --cookie-file
    listen: str = "127.0.0.1"
    dist_port: int = 0
    ticktime: float = 60.0
    workers: Optional[int] = None
    processes: int = 1
    log_level: str = "info"
    log_format: str = "text"
    insecure_plain_dist: bool = False
    stats_interval: Optional[float] = None
    tls_dist: dict = field(default_factory=dict)   # TLS_SCHEMA keys given
    source: str = ""                      # the config file read, for messages


def _type_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "an array"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _check(where: str, key: str, spec: Key, value) -> Any:
    kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
    # TOML booleans are not integers here, though Python's bool is one
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        raise ConfigError(f"{where}: {key} must be {_type_name(spec.kind)}, not {value!r}")
    if spec.choices and value not in spec.choices:
        raise ConfigError(f"{where}: {key} must be one of {', '.join(spec.choices)}, not {value!r}")
    if spec.minimum is not None and value < spec.minimum:
        raise ConfigError(f"{where}: {key} must be at least {spec.minimum:g}, not {value!r}")
    if spec.maximum is not None and value > spec.maximum:
        raise ConfigError(f"{where}: {key} must be at most {spec.maximum:g}, not {value!r}")
    if spec.kind is list and not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be an array of strings, not {value!r}")
    return value


def read_file(path: str) -> dict:
    """The file's checked settings: top-level keys, and ``tls_dist`` as a dict."""
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    out: dict = {}
    for key, value in data.items():
        if key == "tls_dist":
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: tls_dist must be a table ([tls_dist]), not {value!r}")
            tls = {}
            for k, v in value.items():
                spec = TLS_SCHEMA.get(k)
                if spec is None:
                    raise ConfigError(f"{path}: unknown key tls_dist.{k} (known: "
                                      f"{', '.join(TLS_SCHEMA)})")
                tls[k] = _check(path, f"tls_dist.{k}", spec, v)
            out["tls_dist"] = tls
            continue
        if key in REFUSED:
            raise ConfigError(f"{path}: {key} is not a config file setting: {REFUSED[key]}")
        spec = SCHEMA.get(key)
        if spec is None:
            raise ConfigError(f"{path}: unknown key {key} (known: {', '.join(SCHEMA)}, [tls_dist])")
        out[key] = _check(path, key, spec, value)
    if "name" in out and "sname" in out:
        raise ConfigError(f"{path}: name and sname exclude each other")
    return out


def settings(args) -> Settings:
    """Defaults, then the file of ``args.config`` (if any), then the flags given
    (an argparse namespace whose unset options are None). ConfigError if wrong."""
    s = Settings()
    if getattr(args, "config", None):
        s.source = args.config
        fromfile = read_file(args.config)
        for key, value in fromfile.items():
            if key == "tls_dist":
                s.tls_dist = dict(value)
            else:
                setattr(s, key, float(value) if key in ("ticktime", "stats_interval") else value)
    # flags win over the file
    if args.name or args.sname:       # one flag replaces both of the file's
        s.name, s.sname = args.name, args.sname
    if args.cookie:
        s.cookie = args.cookie
    if args.cookie_file:
        s.cookie_file = args.cookie_file
        s.cookie_from_flag = True
    # flags get the file's checks too (argparse knows the types, not the ranges)
    for key in ("listen", "dist_port", "ticktime", "workers", "processes", "log_level", "log_format",
                "stats_interval"):
        value = getattr(args, key, None)
        if value is not None:
            setattr(s, key, _check("flags", "--" + key.replace("_", "-"), SCHEMA[key], value))
    if getattr(args, "insecure_plain_dist", False):
        s.insecure_plain_dist = True
    for key in TLS_SCHEMA:
        value = getattr(args, "tls_dist_" + key, None)
        if value is not None:
            flag = "--tls-dist-" + key.replace("_", "-")
            s.tls_dist[key] = _check("flags", flag, TLS_SCHEMA[key], value)
    verbose = getattr(args, "verbose", 0) or 0
    if verbose:   # -v: debug, whatever the file says (the flag is the later word)
        s.log_level = "debug"
    if s.tls_dist and "certfile" not in s.tls_dist:
        raise ConfigError(f"{s.source or 'flags'}: TLS distribution settings without a "
                          "certificate: set tls_dist.certfile (--tls-dist-certfile)")
    return s


def tls_options(s: Settings):
    """The ``DistTLSOptions`` of the settings, or None for plain TCP."""
    if not s.tls_dist:
        return None
    from bridge.tlsdist import DistTLSOptions
    opts = {k: v for k, v in s.tls_dist.items()}
    if "versions" in opts:
        opts["versions"] = tuple(opts["versions"])
    if opts.get("verify") == "verify_none" and "fail_if_no_peer_cert" not in opts:
        opts["fail_if_no_peer_cert"] = False   # its default follows verify, as in ssl
    return DistTLSOptions(**opts)
