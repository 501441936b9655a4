"""The ``localaws`` command (also ``python -m localaws``): up | down | status, and ``serve``, the
foreground server ``up`` starts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from localaws import daemon


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localaws",
                                     description="Local AWS (moto plus our extensions) on 127.0.0.1")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start in the background")
    up.add_argument("--port", type=int, default=daemon.DEFAULT_PORT)
    up.add_argument("--config", help="fleet config to seed the organization from")
    up.add_argument("--state-dir", default=daemon.DEFAULT_STATE_DIR)
    up.add_argument("--profile", help="behaviour profile: a shipped name (default, realistic) or a YAML file")
    for name, help_text in (("down", "stop the background server"),
                            ("status", "is it running, and where")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--state-dir", default=daemon.DEFAULT_STATE_DIR)
    serve = commands.add_parser("serve", help="run in the foreground until SIGTERM")
    serve.add_argument("--port", type=int, default=daemon.DEFAULT_PORT)
    serve.add_argument("--config")
    serve.add_argument("--log-file", type=Path)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 only inside a container)")
    serve.add_argument("--profile", help="behaviour profile: a shipped name (default, realistic) or a YAML file")

    args = parser.parse_args(argv)  # exits 2 on bad usage
    if args.command == "up":
        return daemon.up(args.port, args.config, args.state_dir, profile=args.profile)
    if args.command == "down":
        return daemon.down(args.state_dir)
    if args.command == "status":
        return daemon.status(args.state_dir)

    from localaws.behaviour.profile import ProfileError
    from localaws.seed_config import SeedError
    from localaws.server import LocalAwsError, serve_forever

    try:
        serve_forever(args.port, args.config, args.log_file, host=args.host, profile=args.profile)
    except ProfileError as exc:
        print(f"local AWS: bad profile: {exc}", file=sys.stderr)
        return daemon.USAGE
    except SeedError as exc:
        print(f"local AWS: bad fleet config {args.config}: {exc}", file=sys.stderr)
        return daemon.USAGE
    except LocalAwsError as exc:
        print(f"local AWS: {exc}", file=sys.stderr)
        return daemon.NOT_RUNNING
    return daemon.OK


if __name__ == "__main__":
    sys.exit(main())
