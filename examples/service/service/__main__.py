"""Run the example service: ``python -m service [--host H] [--port P]``."""

from __future__ import annotations

import argparse
import os

from service.app import Behaviour, make_server


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(prog="service")
    parser.add_argument("--host", default=os.environ.get("SERVICE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SERVICE_PORT", "8080")))
    args = parser.parse_args()
    if os.environ.get("SERVICE_CRASH_ON_START") == "1":
        raise SystemExit("SERVICE_CRASH_ON_START=1: exiting before serving (a drill's fault)")
    server = make_server(args.host, args.port, Behaviour.from_env())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
