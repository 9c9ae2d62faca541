"""``pyssl-bridge``: run the bridge as a hidden Erlang node."""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import secrets
import signal
import socket
import string
import sys
from pathlib import Path

from bridge import logsetup
from bridge.config import LOG_FORMATS, LOG_LEVELS, VERIFY, ConfigError, settings, tls_options
from bridge.group import WorkerGroup, watch_leader
from bridge.node.busypoll import MAX_WINDOW_US, parse_window_us
from bridge.node.epmd import EpmdError
from bridge.node.node import Node
from bridge.service import install
from bridge.tls.transport import set_handshake_workers
from bridge.tlsdist import DistTLSError, TLSCarrier, is_loopback

log = logging.getLogger("bridge")


COOKIE_ENV = "PYSSL_BRIDGE_COOKIE"
# --busy-poll default, microseconds: 50-200 measured alike on 2 cores, 20 gained nothing
# (docs/performance.md, "Round 6", has the figures and the CPU cost)
DEFAULT_BUSY_POLL_US = 100


def default_cookie() -> str:
    """The cookie in ~/.erlang.cookie, created like erl does (20 uppercase letters, 0400)."""
    path = Path.home() / ".erlang.cookie"
    if not path.exists():
        cookie = "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "w") as fh:
            fh.write(cookie)
        return cookie
    return read_cookie_file(path)


def read_cookie_file(path) -> str:
    """The first line of a cookie file. Like erl (auth:read_cookie), refuse a file
    that others can read or write: the cookie is the whole of the trust boundary."""
    path = Path(path)
    mode = path.stat().st_mode
    if mode & 0o077:
        raise OSError(f"cookie file {path} must be accessible by its owner only "
                      f"(mode {mode & 0o777:o}; chmod 400 it)")
    text = path.read_text()
    return text.splitlines()[0].strip() if text else ""


def cookie_from(args) -> str:
    """--cookie, then --cookie-file, then $PYSSL_BRIDGE_COOKIE, then the config file's
    cookie_file, then ~/.erlang.cookie. OSError if a file cannot be used. ``args``:
    the flags, or ``config.Settings`` (whose cookie_file may come from the file)."""
    if args.cookie:
        return args.cookie
    from_flag = getattr(args, "cookie_from_flag", True)
    if args.cookie_file and from_flag:
        return read_cookie_file(args.cookie_file)
    env = os.environ.get(COOKIE_ENV)
    if env:
        return env
    if args.cookie_file:
        return read_cookie_file(args.cookie_file)
    return default_cookie()


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="pyssl-bridge", description=__doc__,
        epilog=f"The cookie comes from --cookie, --cookie-file, ${COOKIE_ENV}, the config "
               "file's cookie_file or ~/.erlang.cookie (created like erl does if absent), in "
               "that order. Flags override the config file (docs/operations.md).")
    p.add_argument("--config", metavar="PATH", help="TOML config file (docs/operations.md)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--name", help="long node name, NAME@HOST (default pyssl@127.0.0.1)")
    g.add_argument("--sname", help="short node name; the host part is this host's short name")
    c = p.add_mutually_exclusive_group()
    c.add_argument("--cookie", help="distribution cookie; visible to other users in ps, "
                   "like erl -setcookie: prefer --cookie-file or $" + COOKIE_ENV)
    c.add_argument("--cookie-file", metavar="PATH",
                   help="read the cookie from the first line of PATH (mode 0400 or 0600)")
    p.add_argument("--ticktime", type=float, default=60.0, help="net_ticktime in seconds (default 60)")
    p.add_argument("--listen", default="127.0.0.1", help="address for distribution (default 127.0.0.1)")
    p.add_argument("--port-mode", action="store_true",
                   help="run as the port program of the BEAM that started it (the pyssl "
                        "application does, when no bridge node is configured): {packet, 4} "
                        "frames on stdin/stdout, logs on stderr; no EPMD, no cookie")
    p.add_argument("--busy-poll", metavar="US", type=_busy_poll_us, default=DEFAULT_BUSY_POLL_US,
                   help="after distribution traffic, keep polling instead of sleeping for US "
                        f"microseconds (0..{MAX_WINDOW_US}, 0 = off; default {DEFAULT_BUSY_POLL_US}): "
                        "lower call latency; it backs off while the machine has no idle core "
                        "(docs/user-guide.md)")
    p.add_argument("--stats-interval", type=float, default=None, metavar="SECONDS",
                   help="seconds between the info-level summary lines (default "
                        "$PYSSL_BRIDGE_STATS_INTERVAL or 60; 0: none)")
    p.add_argument("-v", "--verbose", action="count", default=0)
    add_operations_args(p)
    args = p.parse_args(argv)
    # what a worker of --processes is started with (bridge.group.worker_argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def _busy_poll_us(value: str) -> int:
    try:
        return parse_window_us(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def add_operations_args(p: argparse.ArgumentParser) -> None:
    """Flags of the config file's settings (bridge.config.SCHEMA); unset ones are None
    so that the file's value stands (the defaults are config.SCHEMA's)."""
    p.set_defaults(ticktime=None, listen=None)
    p.add_argument("--dist-port", type=int, metavar="PORT",
                   help="distribution listen port (default: any free port)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="threads for TLS handshakes waiting on Erlang hooks (verify_fun...)")
    p.add_argument("--processes", type=int, metavar="N",
                   help="run N bridge processes (this one and N-1 workers, NAME_w1@HOST...): "
                        "the shim spreads new sockets over them; default 1 (docs/architecture.md)")
    p.add_argument("--group-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--log-level", choices=LOG_LEVELS)
    p.add_argument("--log-format", choices=LOG_FORMATS,
                   help="text (default) or json: one JSON object per line")
    p.add_argument("--check-config", action="store_true",
                   help="check the settings (file, flags, TLS files, cookie file) and exit: "
                        "0 if the bridge would start with them")
    p.add_argument("--insecure-plain-dist", action="store_true", default=None,
                   help="allow plain-TCP distribution on a non-loopback address "
                        "(everything, ssl plaintext included, crosses the network in clear)")
    t = p.add_argument_group("TLS distribution (inet_tls_dist; see docs/operations.md)")
    t.add_argument("--tls-dist-certfile", metavar="PEM",
                   help="this node's certificate (chain); turns TLS distribution on")
    t.add_argument("--tls-dist-keyfile", metavar="PEM", help="its key (default: in certfile)")
    t.add_argument("--tls-dist-cacertfile", metavar="PEM", help="CAs peers are verified with")
    t.add_argument("--tls-dist-verify", choices=VERIFY, help="default verify_peer")
    t.add_argument("--tls-dist-fail-if-no-peer-cert", action=argparse.BooleanOptionalAction,
                   default=None, help="server: refuse clients without a certificate "
                                      "(default: yes with verify_peer)")
    t.add_argument("--tls-dist-depth", type=int, metavar="N")
    t.add_argument("--tls-dist-versions", type=lambda v: [x.strip() for x in v.split(",") if x.strip()],
                   metavar="V1,V2", help="e.g. tlsv1.3,tlsv1.2 (the default)")
    t.add_argument("--tls-dist-hostname-check", action=argparse.BooleanOptionalAction, default=None,
                   help="client: check the peer's certificate against its node name's host "
                        "(default: yes)")


def node_name(args) -> str:
    if args.sname:
        return f"{args.sname}@{socket.gethostname().split('.')[0]}"
    return args.name or "pyssl@127.0.0.1"


def take_port_fds() -> tuple[int, int]:
    """The port's pipes (fds 0 and 1) on fds of their own; fd 1 then goes to
    stderr and fd 0 to /dev/null, so that a stray print can never corrupt the
    frame stream."""
    read_fd, write_fd = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return read_fd, write_fd


def settle_heap() -> None:
    """Once set up, before serving: what is alive now (modules, classes, the
    service's tables: ~31,000 tracked objects) leaves the cyclic collector's
    generations (``gc.freeze``). It lives as long as the process, and every full
    collection traversed all of it, holding the loop: 11-12 ms each on this machine
    (in process, the service installed), ~0 ms after. Full collections are rare in
    a bench run (none in a 2-round upload, echo or handshake run, counted with
    gc.callbacks) but come in a long life of connection churn: a pause of that
    length there is a late reply to every caller. Garbage cycles made later are
    collected as before; ``bigterms`` unfreezes (its huge-term janitor), after
    which these objects are back in the oldest generation, as without this."""
    gc.collect()
    gc.freeze()


async def serve_port(args, read_fd: int, write_fd: int) -> int:
    """Port mode: serve the BEAM at the other end of the port until it closes
    the port (or exits: the pipe's end is the same), or a signal stops us."""
    from bridge.node.port import PortNode

    if (args.processes or 1) > 1:
        print("pyssl-bridge: --processes is for a bridge node; an embedded (port) bridge "
              "is one process", file=sys.stderr)
        return 2
    node = PortNode(busy_poll_us=args.busy_poll)
    conn = await node.serve_port(read_fd, write_fd)
    install(node, stats_interval=args.stats_interval)
    settle_heap()
    node.announce()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("pyssl bridge %s serving its port", node.name.name)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait([conn.lost, stopped], return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    log.info("stopping (%s)", "port closed" if conn.lost.done() else "signal")
    await node.stop()
    return 0


def carrier_for(cfg):
    """The node's carrier: TLS when TLS settings are given; plain TCP otherwise, and
    then only on loopback unless insecure_plain_dist. Raises ConfigError."""
    opts = tls_options(cfg)
    if opts is None:
        if not is_loopback(cfg.listen) and not cfg.insecure_plain_dist:
            raise ConfigError(
                f"refusing plain-TCP distribution on {cfg.listen}: it is not a loopback "
                "address, and every byte between the Erlang nodes and the bridge (the ssl "
                "plaintext included) would cross the network in clear. Configure TLS "
                "distribution (--tls-dist-certfile ... or [tls_dist] in the config file), "
                "or say --insecure-plain-dist (insecure_plain_dist = true) if the network "
                "is trusted")
        return None
    try:
        return TLSCarrier(opts)
    except DistTLSError as exc:
        raise ConfigError(f"TLS distribution: {exc}") from None


def check_config(args) -> int:
    """``--check-config``: what ``serve`` checks before it starts a node, and a line
    saying what it would run (for ExecStartPre= and deploy scripts). Creates nothing:
    without a cookie source, ~/.erlang.cookie is only named."""
    try:
        cfg = settings(args)
        carrier = carrier_for(cfg)
    except ConfigError as exc:
        print(f"pyssl-bridge: {exc}", file=sys.stderr)
        return 2
    if cfg.cookie:
        source = "--cookie"
    elif cfg.cookie_file and (cfg.cookie_from_flag or not os.environ.get(COOKIE_ENV)):
        try:
            if not read_cookie_file(cfg.cookie_file):
                raise OSError(f"{cfg.cookie_file} is empty")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"pyssl-bridge: cannot use the cookie file: {exc}", file=sys.stderr)
            return 1
        source = cfg.cookie_file
    elif os.environ.get(COOKIE_ENV):
        source = f"${COOKIE_ENV}"
    else:
        source = str(Path.home() / ".erlang.cookie")
    kind = "tcp" if carrier is None else carrier.name
    print(f"config ok: {node_name(cfg)}, {kind} distribution on {cfg.listen}:{cfg.dist_port or 'any'}, "
          f"cookie from {source}, log {cfg.log_level} {cfg.log_format}")
    return 0


async def serve(args) -> int:
    if args.port_mode:
        return await serve_port(args, *take_port_fds())
    try:
        cfg = settings(args)            # the flags over the config file
        carrier = carrier_for(cfg)
    except ConfigError as exc:
        print(f"pyssl-bridge: {exc}", file=sys.stderr)
        return 2
    try:
        cookie = cookie_from(cfg)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"pyssl-bridge: cannot read or create the cookie file: {exc}", file=sys.stderr)
        return 1
    if not cookie:
        print("pyssl-bridge: the cookie is empty", file=sys.stderr)
        return 1
    if cfg.workers:
        set_handshake_workers(cfg.workers)
    node = Node(node_name(cfg), cookie, ticktime=cfg.ticktime, carrier=carrier,
                busy_poll_us=args.busy_poll)
    try:
        await node.start(host=cfg.listen, port=cfg.dist_port)
    except (EpmdError, OSError) as exc:
        print(f"pyssl-bridge: cannot start {node.name.name}: {exc}", file=sys.stderr)
        return 1
    service = install(node, stats_interval=cfg.stats_interval)
    settle_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    group = None
    if args.group_worker:
        watch_leader(stop)
    elif cfg.processes > 1:
        group = WorkerGroup(node.name.name, cfg.processes, args.argv, short=bool(cfg.sname))
        service.group_members = group.members
        await group.start()
        log.info("group: %s", ", ".join(group.members()))
    print(f"pyssl bridge {node.name.name} ready (distribution port {node.port})", flush=True)
    log.info("ready: %s, %s distribution on %s:%d", node.name.name, node.carrier.name,
             cfg.listen, node.port)
    notify_systemd("READY=1")
    await stop.wait()
    log.info("stopping")
    notify_systemd("STOPPING=1")
    if group is not None:
        await group.stop()
    await node.stop()
    return 0


def notify_systemd(state: str) -> None:
    """sd_notify(3) for ``Type=notify`` units: a datagram to $NOTIFY_SOCKET, if set."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):        # abstract namespace
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(state.encode(), addr)
    except OSError as exc:
        log.warning("cannot notify systemd: %s", exc)


# While a worker thread decodes a huge frame or parses a huge option list, the loop
# thread waits for the GIL at each step it takes (a read, a TLS record, a reply):
# up to the switch interval each time, 5 ms by default, so a round trip of several
# steps stalled tens of milliseconds. Without such threads running nothing waits.
GIL_SWITCH_INTERVAL = 0.0005


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = settings(args)
    except ConfigError as exc:
        print(f"pyssl-bridge: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "check_config", False):
        return check_config(args)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    logsetup.configure(cfg.log_level, cfg.log_format)   # connections are logged at info
    try:
        import uvloop
    except ImportError:
        return asyncio.run(serve(args))
    return uvloop.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
