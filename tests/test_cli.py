"""The `coalition` command as a user meets it: the product's commands only, and times in any ISO 8601 form."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from network.cli import main
from tests.support.ledger import snapshot

COMMANDS = {
    "": ["aliases", "analytics", "db", "demo", "events", "expire", "holds", "import", "import-balances", "keys", "ledger", "members",
         "openapi", "plugins", "serve", "settlement", "staff", "tiers"],
    "aliases": ["import"],
    "analytics": ["fit"],
    "db": ["partitions", "upgrade"],
    "events": ["deliver", "prune", "replay", "scan", "status"],
    "holds": ["release"],
    "keys": ["rotate"],
    "ledger": ["check"],
    "members": ["rewrap-keys"],
    "settlement": ["reconcile", "verify"],
    "staff": ["add", "disable", "list", "revoke", "token"],
    "tiers": ["review"],
}


def listed(output: str) -> dict[str, str]:
    """The Commands section of a help page: each command's name and its help, which must fit on its line."""
    section = output.split("Commands:\n", 1)[1]
    rows = [line for line in section.splitlines() if line.strip()]
    assert all(re.match(r"^  \S", row) for row in rows), f"a command's help runs onto a second line:\n{section}"
    return dict(row.strip().split(None, 1) for row in rows)


@pytest.mark.parametrize("group", sorted(COMMANDS))
def test_the_help_lists_exactly_the_products_commands_each_in_one_line(group):
    result = CliRunner().invoke(main, [*group.split(), "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    commands = listed(result.output)
    assert sorted(commands) == COMMANDS[group]
    assert all(text.endswith(".") and not text.endswith("...") for text in commands.values()), commands


def test_the_help_offers_none_of_flasks_options_and_its_commands_do_not_run():
    output = CliRunner().invoke(main, ["--help"]).output
    options = output.split("Options:\n", 1)[1].split("\n\n", 1)[0]
    assert options.split() == ["-h,", "--help", "Show", "this", "message", "and", "exit."]
    for flask_only in (["run"], ["shell"], ["routes"], ["openapi", "print"], ["--app", "network", "ledger", "check"]):
        assert CliRunner().invoke(main, flask_only).exit_code == 2, flask_only


def test_every_option_of_every_command_says_what_it_is_for():
    def commands(group, path=()):
        for name, command in group.commands.items():
            yield (*path, name), command
            if hasattr(command, "commands"):
                yield from commands(command, (*path, name))

    for path, command in commands(main):
        if path == ("demo",):
            continue  # the demo's options are its own engineer's (issue 10)
        for option in command.params:
            if option.param_type_name == "option" and option.name != "help":
                assert option.help, f"coalition {' '.join(path)} {option.opts[0]} has no help"


def test_the_installed_console_script_is_the_products():
    coalition = Path(sys.executable).with_name("coalition")
    shown = subprocess.run([str(coalition), "--help"], capture_output=True, text=True, timeout=60, check=True)
    assert sorted(listed(shown.stdout)) == COMMANDS[""]


def test_a_misspelt_setting_is_an_error_naming_it(monkeypatch):
    monkeypatch.setenv("COALITION_EXPIRY", "sometimes")
    result = CliRunner().invoke(main, ["ledger", "check"])
    assert result.exit_code == 1
    assert "Error: COALITION_EXPIRY must be one of fixed, activity_extends, not 'sometimes'" in result.output
    assert "Traceback" not in result.output


def test_openapi_writes_the_document_the_hub_serves(runner, client, tmp_path):
    served = client.get("/v1/openapi.json").json
    printed = runner.invoke(["openapi"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output) == served
    written = runner.invoke(["openapi", "--output", tmp_path / "openapi.json"])
    assert written.exit_code == 0 and written.output == ""
    assert json.loads((tmp_path / "openapi.json").read_text()) == served


# ---------------------------------------------------------------- --as-of


@pytest.fixture
def due(app, world, clock):
    """10 points at Brew Bar that expired at 2028-03-13T09:30:00Z (fixed lifetime of 730 days); now is 70 days later."""
    app.config["COALITION_EXPIRY"] = "fixed"
    world.hub.sale(world.coffee, world.card, "10.00")
    clock.advance(days=800)
    return world


@pytest.mark.parametrize(("given", "as_of"), [
    ("2028-04-01T18:23:15.017739+00:00", "2028-04-01T18:23:15.017739+00:00"),  # as `datetime.isoformat()` prints it
    ("2028-04-01T18:23:15Z", "2028-04-01T18:23:15+00:00"),
    ("2028-04-01T20:23:15+02:00", "2028-04-01T20:23:15+02:00"),
    ("2028-04-01T18:23:15.5-05:30", "2028-04-01T18:23:15.500000-05:30"),
    ("2028-04-01", "2028-04-01T00:00:00+00:00"),  # a bare date: its midnight UTC
    ("2028-04-01T18:23:15", "2028-04-01T18:23:15+00:00"),  # no offset: UTC
    ("2028-04-01 18:23", "2028-04-01T18:23:00+00:00"),
])
def test_expire_takes_any_iso_8601_time(runner, due, given, as_of):
    result = runner.invoke(["expire", "--as-of", given])
    assert result.exit_code == 0, result.output
    assert result.output == f"expired 10 points of 1 members as of {as_of}\n"


def test_a_time_without_offset_is_utc(runner, due):
    before = runner.invoke(["expire", "--as-of", "2028-03-13T10:29:59+01:00"])  # 09:29:59Z: a second early
    assert before.output == "expired 0 points of 0 members as of 2028-03-13T10:29:59+01:00\n"
    at = runner.invoke(["expire", "--as-of", "2028-03-13T09:30:00"])
    assert at.output == "expired 10 points of 1 members as of 2028-03-13T09:30:00+00:00\n"


@pytest.mark.parametrize("command", [["expire"], ["tiers", "review"], ["events", "scan"]])
def test_every_job_takes_fractional_seconds(runner, due, clock, command):
    as_of = (clock.now - timedelta(days=1)).isoformat(timespec="microseconds")
    result = runner.invoke([*command, "--as-of", as_of])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("command", "given"), [
    *((["expire"], given) for given in ["yesterday", "2028-02-30", "2028-04-01T25:00:00", "01/04/2028",
                                        "2028-04-01T18:23:15+25:00", ""]),
    (["tiers", "review"], "last year"),
    (["events", "scan"], "2028-04-01T18:23:15 UTC"),
])
def test_a_time_that_is_not_iso_8601_is_a_usage_error_naming_the_option_and_changes_nothing(
        runner, due, database, command, given):
    before = snapshot(database)
    result = runner.invoke([*command, "--as-of", given])
    assert result.exit_code == 2
    assert f"Error: Invalid value for '--as-of': {given!r} is not an ISO 8601 date or time, such as 2029-02-08" in result.output
    assert snapshot(database) == before


def test_a_time_in_the_future_is_a_usage_error_and_changes_nothing(runner, due, database, clock):
    before = snapshot(database)
    result = runner.invoke(["expire", "--as-of", (clock.now + timedelta(seconds=1)).isoformat()])
    assert result.exit_code == 2
    assert "Error: Invalid value for '--as-of': must not be in the future" in result.output
    assert snapshot(database) == before


def test_the_readme_lists_the_commands_the_help_lists():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("Commands (`coalition --help`", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^- `coalition ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", section, flags=re.M))
    groups = {group for group in COMMANDS if group}
    commands = {f"{group} {name}" if group else name for group, names in COMMANDS.items() for name in names} - groups
    assert documented == commands
