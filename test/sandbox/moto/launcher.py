#!/usr/bin/env python3
"""Start moto's server (all services) on loopback with the sandbox patches applied.

    python launcher.py --host 127.0.0.1 --port 5000

Prints one ready line to stdout once the port accepts connections:

    moto-sandbox ready http://127.0.0.1:5000 moto=5.2.5 patches=cfn_engine,...

and exits 0 on SIGTERM/SIGINT. `--port 0` picks a free port (read it from the
ready line). Only loopback hosts are accepted: the emulator has no
authentication and must never be reachable from the network.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import signal
import sys
import threading
from typing import Any, Callable, Iterable

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class SerializedApp:
    """WSGI middleware running one request at a time.

    moto's backends are plain dicts without locking, and the product calls the
    emulator from many activities in parallel; serializing requests keeps
    iteration in Describe* calls from racing with writes. moto requests are
    short, so this costs little. SQS is left out: moto implements long polling
    (ReceiveMessage WaitTimeSeconds) by waiting inside the request.
    """

    UNLOCKED_SERVICES = {"sqs"}
    _SCOPE = re.compile(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/aws4_request")

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.lock = threading.RLock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = self._SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match and match.group(1) in self.UNLOCKED_SERVICES:
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


class SandboxRoutes:
    """WSGI middleware serving the patches' own routes under `/_sandbox/` (unsigned: loopback only)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], handle: Callable[..., Iterable[bytes] | None]):
        self.app = app
        self.handle = handle

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/_sandbox/"):
            answer = self.handle(environ, start_response)
            if answer is not None:
                return answer
        return self.app(environ, start_response)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port (0 = pick a free one)")
    parser.add_argument("--settings", metavar="JSON", help="sandbox settings as a JSON object (see README.md)")
    parser.add_argument("--check-settings", action="store_true", help="only validate the settings, exit 0 or 2")
    parser.add_argument(
        "--call-log",
        help="append one JSON line per authorized or refused AWS call (while IAM is enforced) to this file",
    )
    args = parser.parse_args(argv)

    if not is_loopback(args.host):
        print(f"launcher: refusing to bind {args.host!r}: only loopback addresses are allowed", file=sys.stderr)
        return 2

    from patches import _settings  # does not import moto: bad settings are refused in a blink

    try:
        settings = _settings.load(os.environ, args.settings)
    except _settings.SettingsError as exc:
        print(f"launcher: {exc}", file=sys.stderr)
        return 2
    if args.check_settings:
        return 0
    _settings.configure(settings)

    if args.call_log:
        os.environ["SANDBOX_AWS_CALL_LOG"] = os.path.abspath(args.call_log)
    # Region default for clients that do not send one (moto needs none itself).
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if os.environ.get("MOTO_ACCOUNT_ID"):
        print(
            "launcher: warning: MOTO_ACCOUNT_ID is set; moto then ignores the account of "
            "sts:AssumeRole credentials (every request lands in that one account)",
            file=sys.stderr,
        )

    import moto
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    import patches

    applied = patches.apply_all()

    app = SandboxRoutes(SerializedApp(DomainDispatcherApplication(create_backend_app)), patches.handle_sandbox_route)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    host, port = server.server_address[:2]
    shown_host = f"[{host}]" if ":" in str(host) else host

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    thread = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    thread.start()
    print(
        f"moto-sandbox ready http://{shown_host}:{port} moto={moto.__version__} patches={','.join(applied)}",
        flush=True,
    )
    while not stop.wait(0.5):
        if not thread.is_alive():
            print("launcher: server thread died", file=sys.stderr)
            return 1
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
    print("moto-sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
