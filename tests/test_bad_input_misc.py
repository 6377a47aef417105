"""Bad input to the remaining subcommands (drive, pipeline, summarize, report): one
``error:`` line and exit status 2, before any work is done."""

from __future__ import annotations

import pytest

from experiments.experiment_runner import main


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["drive", "--episodes", "0"], "--episodes 0"),
        (["drive", "--episodes", "-3"], "--episodes -3"),
        (["pipeline", "--train-episodes", "0"], "--train-episodes 0"),
        (["pipeline", "--test-episodes", "0"], "--test-episodes 0"),
        (["summarize", "{tmp}/missing"], "does not exist"),
        (["report", "{tmp}/missing"], "not a directory"),
    ],
)
def test_bad_input_is_one_error_line(tmp_path, capsys, argv, needle) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert needle in err
    assert list(tmp_path.iterdir()) == []  # nothing was written
