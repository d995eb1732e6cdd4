"""``python -m sheetsync.emulator [--host H] [--port P] [--state FILE] [--realistic]``: serve until
interrupted."""

from __future__ import annotations

import argparse

from sheetsync.emulator.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sheetsync.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed on start)")
    parser.add_argument("--state", default=None, help="JSON file to load on start and save after each write")
    parser.add_argument("--realistic", action="store_true",
                        help="Google's quotas (60 reads and 60 writes a minute per user) and the latency model")
    args = parser.parse_args(argv)
    serve(host=args.host, port=args.port, state_file=args.state, realistic=args.realistic)


if __name__ == "__main__":
    main()
