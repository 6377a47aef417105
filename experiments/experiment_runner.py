"""``experiment-runner``: one subcommand per step of the flow.

uv run experiment-runner --help
uv run experiment-runner drive --help
"""

from __future__ import annotations

import os

# Idle OpenMP threads (numba's parallel vector env, torch) spin by default; on a machine whose
# cores are shared with other jobs that made evaluation 10-20x slower. Set before any import
# that starts an OpenMP runtime; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import tyro  # noqa: E402

from experiments import (  # noqa: E402
    collect,
    drive,
    evaluate,
    extract,
    import_bag,
    pipeline,
    report,
    summarize,
    train_bc,
    train_dagger,
    train_rl,
)

# name -> (Args dataclass, run function)
SUBCOMMANDS: dict[str, tuple[type, Callable[[Any], Any]]] = {
    "pipeline": (pipeline.Args, pipeline.run),
    "drive": (drive.Args, drive.run),
    "collect": (collect.Args, collect.run),
    "summarize": (summarize.Args, summarize.run),
    "extract": (extract.Args, extract.run),
    "import-bag": (import_bag.Args, import_bag.run),
    "train-bc": (train_bc.Args, train_bc.run),
    "train-dagger": (train_dagger.Args, train_dagger.run),
    "train-rl": (train_rl.Args, train_rl.run),
    "evaluate": (evaluate.Args, evaluate.run),
    "report": (report.Args, report.run),
}


def main(argv: list[str] | None = None) -> None:
    args = tyro.extras.subcommand_cli_from_dict(
        {name: cls for name, (cls, _) in SUBCOMMANDS.items()}, args=argv
    )
    for cls, run in SUBCOMMANDS.values():
        if isinstance(args, cls):
            run(args)
            return


if __name__ == "__main__":
    main()
