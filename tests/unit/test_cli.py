"""``mgn-migrate``: one installed command in front of the operator tools."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from mgn_pipeline_ops import cli


def test_the_installed_script_is_the_cli_main() -> None:
    [script] = entry_points(group="console_scripts", name="mgn-migrate")
    assert script.load() is cli.main


def test_help_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    shown = capsys.readouterr().out
    for command in cli.COMMANDS:
        assert f"mgn-migrate {command}" in shown


def test_no_command_prints_the_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "mgn-migrate status" in capsys.readouterr().out


def test_an_unknown_command_is_refused_with_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["approve"]) == 2
    assert "unknown command 'approve'; one of: status, audit-export, cutover, preflight" in (
        capsys.readouterr().err
    )


# urllib3 probes IPv6 support with a socket when boto3 is first imported; nothing is sent.
@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket")
@pytest.mark.parametrize(
    ("argv", "prog"),
    [
        (["status", "--help"], "usage: mgn-migrate"),
        (["cutover", "--help"], "usage: mgn-migrate cutover"),
        (["preflight", "--help"], "usage:"),
    ],
)
def test_each_command_reaches_its_own_parser(
    argv: list[str], prog: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(prog)


def test_cutover_without_its_table_says_which_setting_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CUTOVER_GATE_TABLE_NAME", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli.main(["cutover", "approve", "s-1234567890abcdef0"])
    assert exited.value.code == 2
    assert "--table or CUTOVER_GATE_TABLE_NAME is required" in capsys.readouterr().err
