"""The platform's one voice (core/output.py): plain text off a terminal, styled on one,
quiet and --json modes that print nothing else; and the command surface that feeds it
(cli/params.py, the lazy command table)."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from duckmesh.cli import main
from duckmesh.cli.root import COMMANDS, cli
from duckmesh.core.output import Console, Mode, console, use_console

REPO = Path(__file__).resolve().parents[1]


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def speak(voice: Console) -> None:
    voice.step("[1/3] dbt build")
    voice.out("published snapshot s1")
    voice.warn("warning: one product held back", err=False)
    voice.warn("observability: warning: no webhook")
    voice.error("duckmesh build: error: dbt failed")


def streams(mode: Mode, out: io.StringIO | None = None,
            err: io.StringIO | None = None) -> tuple[str, str]:
    out, err = out or io.StringIO(), err or io.StringIO()
    speak(Console(mode=mode, stdout=out, stderr=err))
    return out.getvalue(), err.getvalue()


def test_off_a_terminal_every_line_is_plain_text_as_written() -> None:
    out, err = streams(Mode.NORMAL)
    assert out == ("[1/3] dbt build\npublished snapshot s1\n"
                   "warning: one product held back\n")
    assert err == "observability: warning: no webhook\nduckmesh build: error: dbt failed\n"


def test_quiet_keeps_the_answer_warnings_and_errors() -> None:
    out, err = streams(Mode.QUIET)
    assert out == "published snapshot s1\nwarning: one product held back\n"
    assert err == "observability: warning: no webhook\nduckmesh build: error: dbt failed\n"


def test_json_mode_keeps_stdout_for_the_json() -> None:
    out, err = io.StringIO(), io.StringIO()
    voice = Console(mode=Mode.JSON, stdout=out, stderr=err)
    speak(voice)
    voice.json({"snapshot": "s1", "products": 2})
    voice.json([{"n": 1}, '{"n": 2}'], lines=True)
    assert out.getvalue() == ('{\n  "snapshot": "s1",\n  "products": 2\n}\n'
                              '{"n": 1}\n{"n": 2}\n')
    assert err.getvalue() == ("warning: one product held back\n"
                              "observability: warning: no webhook\n"
                              "duckmesh build: error: dbt failed\n")


def test_on_a_terminal_lines_are_styled_unless_no_color() -> None:
    out, err = streams(Mode.NORMAL, Terminal(), Terminal())
    assert "\x1b[" in out and "\x1b[" in err
    # step lines and warnings are coloured; the answer itself is written as it is
    assert "published snapshot s1" in out.splitlines()
    plain = io.StringIO()
    Console(stdout=Terminal(), stderr=plain, no_color=True).warn("careful")
    assert plain.getvalue() == "careful\n"


def test_a_progress_bar_only_on_a_terminal() -> None:
    piped = io.StringIO()
    with Console(stdout=piped).progress("sharing s1", 3) as bar:
        for _ in range(3):
            bar.advance()
    assert piped.getvalue() == ""
    shown = Terminal()
    with Console(stdout=shown).progress("dbt build") as bar:
        bar.total(3)
        bar.advance(3)
    assert "dbt build" in shown.getvalue() and "3/3" in shown.getvalue()
    quiet = Terminal()
    with Console(mode=Mode.QUIET, stdout=quiet).progress("sharing s1", 3) as bar:
        bar.advance(3)
    assert quiet.getvalue() == ""


def test_lines_printed_under_a_bar_scroll_above_it() -> None:
    """While a bar is drawn rich proxies sys.stdout; a step line then goes through the
    bar's console, which clears the bar's line first (never text glued to the bar)."""
    screen = Terminal()
    with contextlib.redirect_stdout(screen):
        voice = Console()
        with voice.progress("sharing s1", 2) as bar:
            voice.step("  [1/2] ports")
            bar.advance(2)
    shown = screen.getvalue()
    assert shown.count("[1/2] ports") == 1
    before = shown.split("  [1/2] ports")[0]
    assert before.endswith("\r\x1b[2K\x1b[36m"), before[-40:]


def test_dbt_nodes_are_counted_on_a_terminal_only() -> None:
    """core/dbt.py hands dbt a callback that moves the bar: the total from dbt's
    "N of M START" lines, one step per finished node."""
    from types import SimpleNamespace

    from duckmesh.core.dbt import _node_progress

    def event(name: str, **data: int) -> SimpleNamespace:
        return SimpleNamespace(info=SimpleNamespace(name=name), data=SimpleNamespace(**data))

    shown = Terminal()
    with use_console(Console(stdout=shown)):
        with _node_progress(["build", "--select", "sales"]) as callbacks:
            assert len(callbacks) == 1
            for index in (1, 2):
                callbacks[0](event("LogStartLine", index=index, total=2))
                callbacks[0](event("NodeFinished"))
        with _node_progress(["--quiet", "build"]) as quiet, _node_progress(["deps"]) as deps:
            assert quiet == deps == []
    assert "dbt build" in shown.getvalue() and "2/2" in shown.getvalue()
    with use_console(Console(stdout=io.StringIO())), _node_progress(["build"]) as plain:
        assert plain == []


def test_the_console_follows_a_redirected_stdout() -> None:
    captured = io.StringIO()
    with use_console(Console()), contextlib.redirect_stdout(captured):
        console().out("to the redirect")
    assert captured.getvalue() == "to the redirect\n"


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--project-dir", str(REPO), *args])
    return code, out.getvalue(), err.getvalue()


def test_json_and_quiet_from_the_command_line(tmp_path: Path) -> None:
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    for path in (before, after):
        path.write_text(json.dumps({"nodes": {}}))
    args = ("governance", "diff", "--before", str(before), "--after", str(after))
    assert run(*args) == (0, "no product changes\n", "")
    assert run(*args, "--json") == (0, "[]\n", "")
    assert run("-q", *args) == (0, "no product changes\n", "")
    # the mode ends with the invocation: the next one speaks normally
    assert console().mode is Mode.NORMAL


def test_quiet_drops_the_step_lines_of_a_command(tmp_path: Path) -> None:
    args = ("generate", "--scale", "0.001", "--out", str(tmp_path / "data"), "--force")
    code, said, _ = run(*args)
    steps = [line for line in said.splitlines() if line.startswith("  [")]
    assert code == 0 and [line.split()[1] for line in steps] == [
        "customers", "orders", "order", "tickets", "touches", "campaign"]
    answer = said.splitlines()[len(steps):]
    assert answer[0].startswith("source data (scale 0.001, seed 42) generated in ")
    assert answer[1] == f"written to {tmp_path / 'data'}"
    code, quiet, _ = run("-q", *args)
    assert code == 0 and quiet.splitlines()[0].startswith("source data (scale 0.001")
    assert quiet.splitlines()[1:] == answer[1:]


def test_every_command_of_the_table_loads_and_helps_without_dbt() -> None:
    """The `module:attr` table names real commands, and each one's --help (the whole
    lazy group walked in one fresh process) imports neither dbt nor rich."""
    ctx = click.Context(cli)
    for name, (target, help_line) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command), target
        assert help_line and not help_line.endswith(".")
    probe = ("import sys\nfrom duckmesh.cli import main\nfrom duckmesh.cli.root import COMMANDS\n"
             "for name in COMMANDS:\n"
             "    if name == 'bench':\n        continue  # its --help is the benchmarks'\n"
             "    try:\n        main([name, '--help'])\n    except SystemExit:\n        pass\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'dbt', 'rich'}))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, cwd=REPO)
    assert done.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize("option", ["--json", "--scale", "--seed", "--full-refresh"])
def test_a_shared_option_is_declared_once(option: str) -> None:
    """Every command that takes a shared option gets the same declaration (help and
    default) from cli/params.py."""
    ctx = click.Context(cli)
    seen = []
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        subcommands = getattr(command, "commands", {}).values() or [command]
        for sub in subcommands:
            for param in sub.params:
                if option in getattr(param, "opts", []):
                    seen.append((param.help, param.default))  # type: ignore[attr-defined]
    assert len(seen) >= 2 and len(set(seen)) == 1, seen
