"""The plain log: one line per report, whatever the width, with the epoch on every step line;
--quiet keeps only what needs attention."""

import io

from rich.console import Console
from test_dashboard import MESSAGE, SIZE_NOTE, events

from charlstm.cli.plainlog import PlainLog
from charlstm.events import Skipped, Stopped

STOPPED = Stopped(step=290, reason="done", message="finished 4,000 steps at step 290", best_val_loss=3.0579,
                  elapsed=58.0, run_dir="checkpoints/pydocs-20261127-222550")


def log(quiet: bool = False) -> tuple[PlainLog, io.StringIO]:
    out = io.StringIO()
    return PlainLog(Console(file=out, width=60, soft_wrap=True, no_color=True), quiet), out  # as stderr_console


def test_one_line_per_report():
    view, out = log()
    with view:
        for ev in events():
            view.show(ev)
        view.show(Skipped(step=291, loss=float("nan"), grad_norm=float("inf"), in_a_row=1))
        view.notice(MESSAGE)
        view.show(STOPPED)
    lines = out.getvalue().splitlines()
    assert lines[0] == "charlstm: training pydocs-20261127-222550"
    assert f"  note    {SIZE_NOTE}" in lines  # one line, however long
    steps = [line for line in lines if line.startswith("step ")]
    assert len(steps) == 29 and steps[-1].startswith("step     290 | epoch 0.38 |   7% | loss 2.7500")
    assert any(line.startswith("eval   step     100 | val 3.0579 nats") for line in lines)
    assert lines.count("  | def area(r):") == 4 and "saved" not in out.getvalue().split("result")[0]
    assert "warning (step 290): gradient norm 1.2e+03 is 40x its recent median: lower --lr or --clip" in lines
    assert any(line.startswith("skipped step 291: non-finite loss nan") for line in lines)
    assert MESSAGE in lines
    assert any(line.startswith("resume") and line.endswith("charlstm resume checkpoints/pydocs-20261127-222550")
               for line in lines)


def test_quiet_shows_only_what_needs_attention():
    view, out = log(quiet=True)
    for ev in events():
        view.show(ev)
    view.show(STOPPED)
    assert out.getvalue().splitlines() == [
        "warning (step 290): gradient norm 1.2e+03 is 40x its recent median: lower --lr or --clip"]
    view.show(Stopped(**{**STOPPED.__dict__, "reason": "interrupted", "message": "stopped at step 290"}))
    assert "stopped at step 290" in out.getvalue() and "charlstm resume" in out.getvalue()


def test_an_eval_on_part_of_the_split_says_what_it_scored():
    import io

    from rich.console import Console

    from charlstm.cli.plainlog import PlainLog
    from charlstm.events import Eval
    out = io.StringIO()
    log = PlainLog(Console(file=out, width=200))
    log.show(Eval(step=5, val_loss=1.5, best_val_loss=1.5, is_best=True, train_loss=None, seconds=0.1,
                  scored_chars=199_999, val_chars=299_999))
    log.show(Eval(step=6, val_loss=1.4, best_val_loss=1.4, is_best=True, train_loss=None, seconds=0.1,
                  scored_chars=299_999, val_chars=299_999))
    first, second = out.getvalue().splitlines()
    assert "on the first 199,999 of 299,999 val chars" in first and "val chars" not in second
