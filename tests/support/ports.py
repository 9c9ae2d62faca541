"""Local TCP ports for peers a test starts itself (openssl s_server and the like)."""
import socket
import time


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, deadline: float = 10.0) -> None:
    """Until something accepts connections on 127.0.0.1:port (TimeoutError after deadline s)."""
    end = time.time() + deadline
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(port)
