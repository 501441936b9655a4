"""pre-commit entry point: one gate over the staged files, through the same run_gates.

    python -m fleet.gates.hook secrets FILE...   (pre-commit passes the staged file names)
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import locate
from .command import CONFIG_NAME, check_command, check_config


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m fleet.gates.hook GATE [FILE...]", file=sys.stderr)
        return 2
    gate, files = args[0], args[1:]
    root = locate.git_toplevel(Path.cwd()) or Path.cwd()
    rel = {str(Path(f).resolve().relative_to(root.resolve())) if Path(f).is_absolute() else
           str(Path(f)) for f in files}
    # a staged fleet config is loaded as the pipeline will load it (include/fleet.yaml here)
    for config in sorted({Path(r).parent for r in rel if Path(r).name == CONFIG_NAME}):
        if not check_config(root / config):
            return 2
    # history is the Build stage's job: a commit hook checks what is about to be committed
    return check_command(str(root), "text", history=False, gates={gate}, only_files=rel)


if __name__ == "__main__":
    sys.exit(main())
