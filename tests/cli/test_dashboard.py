"""The live dashboard fits the terminal: no row wider than it, and the description above plus the
panel no taller than it, at 80x24 and at 60x24; Ctrl-C's message shows inside the panel."""

import io

import pytest
from rich.console import Console
from rich.segment import Segment

from charlstm.cli.dashboard import Dashboard
from charlstm.events import Alert, Eval, Sample, Saved, Started, Step, Stopped

SIZE_NOTE = ("size: medium (0.7M characters on the CPU: sized for how much the budget can teach): 2x512, embed 128, "
             "dropout 0.2, weight drop 0 (~5 passes over the text, too few to memorise it), batch 64 x seq 128, "
             "lr 0.002, weight decay 0.1, plateau 3 (your --hidden kept)")
MESSAGE = "SIGINT: saving at the next step boundary (press Ctrl-C again to quit at once)"
NORMS = {"embed": 0.0017, "layer0": 0.012, "layer1": 0.025, "head": 0.11}


def started() -> Started:
    return Started(run_dir="checkpoints/pydocs-20261127-222550", run_name="pydocs-20261127-222550", params=3_312_230,
                   corpus="1 file(s), 703,368 characters, vocabulary 102", train_chars=633_032, val_chars=70_336,
                   model_config=dict(cell="lstm", layers=2, hidden=512, embed=128, dropout=0.2, weight_drop=0.0),
                   train_config=dict(batch_size=64, seq_len=128, optimizer="adamw", lr=0.002, schedule="wsd",
                                     clip=5.0),
                   budget={"steps": 4000}, device="cpu", threads=2, notes=(SIZE_NOTE, "precision: fp32"))


def step(i: int) -> Step:
    return Step(step=i, epoch=i / 760, loss=4.2 - i / 200, grad_norm=0.41, clipped=False, lr=2e-3,
                chars_per_s=51_014.0, elapsed=i * 0.2, progress=i / 4000, eta=(4000 - i) * 0.2,
                layer_grad_norms=NORMS, clipped_fraction=0.1)


def events():
    yield started()
    for i in range(10, 300, 10):
        yield step(i)
        if i == 100:
            yield Eval(step=100, val_loss=3.0579, best_val_loss=3.0579, is_best=True, train_loss=3.1, seconds=1.2,
                       scored_chars=199_999, val_chars=300_000)  # --eval-chars cut the split: the panel says so
            yield Sample(step=100, text=("def area(r):\n    return 3.14159 * r * r  # a line far longer than any "
                                         "terminal is wide, as generated text often is\n\tclass Circle:\x07\n") * 4)
            yield Saved(step=100, path="checkpoints/pydocs-20261127-222550/best.pt", reason="best")
    yield Alert(step=290, kind="exploding", message="gradient norm 1.2e+03 is 40x its recent median: lower --lr or "
                                                    "--clip")


def console(width: int, height: int = 24) -> Console:
    return Console(width=width, height=height, record=True, file=io.StringIO(), force_terminal=True)


def panel_lines(dash: Dashboard, con: Console) -> list[str]:
    lines = con.render_lines(dash.frame(), con.options, pad=False)
    assert all(Segment.get_line_length(line) <= con.width for line in lines)
    return ["".join(s.text for s in line) for line in lines]


@pytest.mark.parametrize("width", [80, 60])
def test_the_description_and_panel_fit_the_terminal(width):
    con = console(width)
    with Dashboard(con, refresh_per_second=20) as dash:
        for ev in events():
            dash.show(ev)
        panel = panel_lines(dash, con)
        assert dash.header_rows + len(panel) <= 24
        text = "\n".join(panel)
        assert "epoch 0.38" in text and "step 290/4,000" in text and "gradient norm 1.2e+03" in text
        assert all(line.startswith(("│", "╭", "╰")) for line in panel[:-1]) and panel[-1] == ""
        assert "(67% of val)" in text  # --eval-chars scored part of the split
        if width == 80:
            assert "sample @ step 100" in text and "def area(r):" in text
            assert "▁" in text or "█" in text  # the loss sparkline
        else:
            assert "per layer" not in text and "elapsed" not in text  # optional parts go first
        dash.notice(MESSAGE)
        panel = panel_lines(dash, con)
        assert dash.header_rows + len(panel) <= 24
        text = "\n".join(panel)
        assert "saving at the next step boundary" in text and "quit at once" in text  # inside the panel
        assert "epoch 0.38" in text and "gradient norm 1.2e+03" in text
        dash.show(Stopped(step=290, reason="interrupted", message="stopped at step 290", best_val_loss=3.0579,
                          elapsed=58.0, run_dir="checkpoints/pydocs-20261127-222550"))
    exported = con.export_text()
    assert max(len(line) for line in exported.splitlines()) <= width  # nothing, header or summary, wraps
    assert "charlstm resume" in exported and "stopped at step 290" in exported


def test_a_long_note_wraps_with_a_hanging_indent():
    con = console(80)
    con.print(Dashboard(con).header(started()))
    lines = con.export_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  note    size: medium"))
    assert lines[first + 1].startswith(" " * 10) and lines[first + 1].strip()
    assert all(len(line) <= 80 for line in lines)


def test_a_roomy_terminal_shows_the_optional_parts_and_the_preview():
    con = console(120, 50)
    with Dashboard(con, refresh_per_second=20) as dash:
        for ev in events():
            dash.show(ev)
        text = "\n".join(panel_lines(dash, con))
    assert "per layer" in text and "layer1 0.025" in text and "elapsed" in text and "ETA" in text
    assert text.count("def area(r):") == 3  # eight preview lines: the sample's first eight
    assert "·" in text and "\x07" not in text  # a control character is not sent to the terminal


def test_a_short_terminal_keeps_the_bottom_and_drops_the_preview():
    con = console(80, 16)
    with Dashboard(con, refresh_per_second=20) as dash:
        for ev in events():
            dash.show(ev)
        panel = panel_lines(dash, con)
    assert len(panel) <= 16 and panel[-2].startswith("╰")
    assert "gradients" in "\n".join(panel)


def test_a_styled_run_shows_each_styles_validation_loss_and_still_fits():
    con = console(80)
    with Dashboard(con, refresh_per_second=20) as dash:
        dash.show(started())
        dash.show(step(10))
        dash.show(Eval(step=10, val_loss=1.5344, best_val_loss=1.5344, is_best=True, train_loss=1.6, seconds=1.0,
                       val_by_style={"code": 1.6554, "verse": 1.4135}))
        dash.show(step(20))
        panel = panel_lines(dash, con)
        assert dash.header_rows + len(panel) <= 24
        assert any("by style" in line and "code 1.6554  verse 1.4135" in line for line in panel)
