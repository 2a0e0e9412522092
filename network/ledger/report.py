"""What `coalition ledger check` prints, one line per invariant; the demo prints the same after its run."""

from __future__ import annotations

import click


def echo_check(results: dict[str, list[str]], *, indent: str = "", limit: int = 20) -> bool:
    """Each invariant `ok` or `FAIL` with its first offending rows; True when every one holds."""
    for name, problems in results.items():
        if not problems:
            click.secho(f"{indent}ok    {name}", fg="green")
            continue
        click.secho(f"{indent}FAIL  {name}", fg="red")
        for problem in problems[:limit]:
            click.echo(f"{indent}      {problem}")
        if len(problems) > limit:
            click.echo(f"{indent}      ... and {len(problems) - limit} more")
    return not any(results.values())
