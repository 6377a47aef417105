"""``experiment-runner``: one subcommand per step of the flow.

uv run experiment-runner --help
uv run experiment-runner drive --help
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tyro

from experiments import (
    collect,
    drive,
    evaluate,
    extract,
    pipeline,
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
    "train-bc": (train_bc.Args, train_bc.run),
    "train-dagger": (train_dagger.Args, train_dagger.run),
    "train-rl": (train_rl.Args, train_rl.run),
    "evaluate": (evaluate.Args, evaluate.run),
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
