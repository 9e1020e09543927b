"""devkit/progress.py: what deploy and bench print while they work, on a terminal and in a log."""

import io

from devkit.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_off_a_terminal_a_step_prints_its_count_once_per_quarter_and_nothing_is_redrawn():
    log = io.StringIO()
    out = Progress(log)
    update = out.step("echo")
    for done in range(1, 9):
        update(done, 8)
    out.redraw("spinner")
    out.note("done")
    lines = log.getvalue().splitlines()
    assert lines[0] == "  echo ..." and lines[-1] == "  done"
    assert [line.split(":")[1].split()[0] for line in lines[1:-1]] == ["1/8", "2/8", "4/8", "6/8", "8/8"]
    assert "\r" not in log.getvalue() and "spinner" not in log.getvalue()


def test_on_a_terminal_a_step_count_is_kept_and_a_spinner_is_erased_by_the_next_line():
    terminal = Terminal()
    out = Progress(terminal)
    out.step("echo")(3, 4)
    out.line("figure")
    out.redraw("spinning")
    out.line("event")
    text = terminal.getvalue()
    assert "\x1b[2K  echo: 3/4 (" in text and ")\nfigure\n" in text, "the last count stays on its own line"
    assert text.endswith("\r\x1b[2Kspinning\r\x1b[2Kevent\n"), "the spinner is erased, not kept"
