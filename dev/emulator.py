"""The local AWS-API emulator: moto's server, answering one request at a time.

DynamoDB applies each conditional write atomically, and the workers rely on it: of two
deliveries of one message, only one may claim the notification. moto's stock server handles
requests on parallel threads without locking its backends, so two concurrent conditional
updates of one item can both succeed. Serialising the requests restores the guarantee.
(It also means: never long-poll SQS against it; a waiting ReceiveMessage would hold the lock.)

usage: python dev/emulator.py [--host 127.0.0.1] [--port 4566]
"""

import argparse
import os
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


class Serialized:
    """WSGI middleware that runs one request (and its whole response) at a time."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            return list(self.app(environ, start_response))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = Serialized(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
