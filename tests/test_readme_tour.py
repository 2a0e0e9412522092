"""The README's tour, run as written against a live `coalition serve`, so that it cannot drift from the hub.

Every ```sh block of the README from the top down to "### Errors" runs, in
order, in one bash process (`set -e`: a failing command fails the test).
Two blocks are left out: the `make demo` / `make test` lines at the very top,
and the block that starts a hub (`make serve`), which this test replaces by
starting `coalition serve` itself with the variables that block sets. The
reader's `HUB` is this server (`HUB=${HUB:-...}`), the working directory a
fresh folder whose `.venv/bin/coalition` is this venv's.

What the README says each curl answers, on the comment lines right under it:

- `# {...}` (continued on the next `#` lines until the JSON closes): the answer
  is 2xx and holds these fields. An object names some of the answer's fields,
  never all; `...` stands for any value, for more items in a list (a list
  without `...` has exactly these items) or, inside a string, for any text.
- `# -> 409 hold_captured`: that status and that error code; `# -> 200 {...}`:
  that status and those fields.
- nothing: the answer is 2xx.

Other comments (`# prints ...`, prose) are for the reader only. The
PostgreSQL recipe further down is not part of the tour and is not run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
ELLIPSIS = "\u2026any\u2026"
#: A curl, a shell word of its own (not `curl`'s own output or a word such as `curly`).
CURL = re.compile(r"(?:^|[\s(|;&])curl\s")


# ---------------------------------------------------------------- the README's blocks


def sh_blocks(text: str) -> list[str]:
    """The ```sh blocks of the tour, in order: the README down to its Errors table."""
    tour = text.split("\n### Errors", 1)[0]
    return re.findall(r"^```sh\n(.*?)^```$", tour, flags=re.S | re.M)


@dataclass
class Expectation:
    status: int | None  # None: any 2xx
    code: str | None = None
    subset: object = None
    text: str = ""


@dataclass
class Command:
    lines: list[str]
    expected: Expectation | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class _Quotes:
    """Where a line leaves the shell's quoting, so that a command spanning lines is read as one."""

    single: bool = False
    double: bool = False
    heredoc: str | None = None
    continued: bool = False
    curls: int = 0
    pending_heredoc: list[str] = field(default_factory=list)

    def open(self) -> bool:
        return self.single or self.double or self.heredoc is not None or self.continued

    def feed(self, line: str) -> None:
        if self.heredoc is not None:
            if line.strip() == self.heredoc:
                self.heredoc = None
            return
        code, i = [], 0
        while i < len(line):
            c = line[i]
            if self.single:
                self.single = c != "'"
            elif self.double:
                if c == "\\":
                    i += 1
                self.double = c != '"'
            elif c == "\\":
                i += 1
            elif c == "'":
                self.single = True
            elif c == '"':
                self.double = True
            elif c == "#" and (i == 0 or line[i - 1].isspace()):
                break
            else:
                code.append(c)
                if line.startswith("<<", i) and not line.startswith("<<<", i):
                    word = re.match(r"<<-?\s*['\"]?(\w+)", line[i:])
                    if word:
                        self.pending_heredoc.append(word.group(1))
            i += 1
        self.curls += len(CURL.findall(" " + "".join(code)))
        self.continued = line.endswith("\\") and not (self.single or self.double)
        if not self.open() and self.pending_heredoc:
            self.heredoc = self.pending_heredoc.pop(0)


def commands(block: str) -> list[Command]:
    """A block's commands (a command spans lines while quoted, continued or in a heredoc) with their expectations."""
    found: list[Command] = []
    lines = block.splitlines()
    quotes = _Quotes()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not quotes.open() and (not line.strip() or line.lstrip().startswith("#")):
            if re.match(r"\s*# (\{|\[|->)", line):
                comment, i = _comment_lines(lines, i)
                assert found and CURL.search(" " + found[-1].text), f"an expectation under no curl: {line!r}"
                assert found[-1].expected is None, f"two expectations under one curl: {line!r}"
                found[-1].expected = expectation(comment)
                continue
            i += 1
            continue
        if not quotes.open():
            found.append(Command([]))
            quotes.curls = 0
        found[-1].lines.append(line)
        quotes.feed(line)
        assert quotes.curls <= 1, f"one curl per command, so that answers pair with commands: {found[-1].text}"
        i += 1
    return found


def _comment_lines(lines: list[str], i: int) -> tuple[str, int]:
    """The text of an expectation comment, continued on the following `#` lines until its JSON closes."""
    text = lines[i].lstrip()[2:]
    i += 1
    while not _complete(text) and i < len(lines) and lines[i].lstrip().startswith("#"):
        text += " " + lines[i].lstrip()[1:].strip()
        i += 1
    return text, i


def _complete(text: str) -> bool:
    start = text.find("{") if "{" in text else text.find("[")
    if start < 0:
        return True
    try:
        json.JSONDecoder().raw_decode(with_ellipses(text[start:]))
        return True
    except ValueError:
        return False


def expectation(text: str) -> Expectation:
    status = code = None
    rest = text.strip()
    refusal = re.match(r"->\s*(\d{3})\s*", rest)
    if refusal:
        status, rest = int(refusal.group(1)), rest[refusal.end():]
        named = re.match(r"([a-z_]+)\b", rest)
        if named:
            code, rest = named.group(1), rest[named.end():].strip()
    subset = None
    if rest.startswith(("{", "[")):
        subset, _ = json.JSONDecoder().raw_decode(with_ellipses(rest))
    return Expectation(status, code, subset, text)


def with_ellipses(text: str) -> str:
    """JSON text with the README's bare `...` made into a marker: a value, a list item, or an object's "and more"."""
    out, stack, in_string, i, last = [], [], False, 0, ""
    while i < len(text):
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif text.startswith("...", i):
            in_object_key = stack and stack[-1] == "{" and last != ":"
            out.append(f'"{ELLIPSIS}": null' if in_object_key else f'"{ELLIPSIS}"')
            last = '"'
            i += 3
            continue
        else:
            out.append(c)
            if c == '"':
                in_string = True
            elif c in "{[":
                stack.append(c)
            elif c in "}]" and stack:
                stack.pop()
            if not c.isspace():
                last = c
        i += 1
    return "".join(out)


def mismatch(expected, actual, path: str = "$") -> str | None:
    """Where the answer departs from the README's fields, or None."""
    if expected == ELLIPSIS:
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {actual!r}"
        for key, value in expected.items():
            if key == ELLIPSIS:
                continue
            if key not in actual:
                return f"{path}.{key}: missing"
            found = mismatch(value, actual[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{path}: expected a list, got {actual!r}"
        return _list_mismatch(expected, actual, path)
    if isinstance(expected, str) and "..." in expected:
        pattern = ".*".join(re.escape(part) for part in expected.split("..."))
        if isinstance(actual, str) and re.fullmatch(pattern, actual, flags=re.S):
            return None
        return f"{path}: expected {expected!r}, got {actual!r}"
    if expected != actual or type(expected) is not type(actual):
        return f"{path}: expected {expected!r}, got {actual!r}"
    return None


def _list_mismatch(expected: list, actual: list, path: str) -> str | None:
    """Items in order; a `...` item skips any number of the answer's items (greedy, first match)."""
    position, skipping = 0, False
    for item in expected:
        if item == ELLIPSIS:
            skipping = True
            continue
        if skipping:
            while position < len(actual) and mismatch(item, actual[position]):
                position += 1
        if position >= len(actual):
            return f"{path}: no item matching {item!r} in {actual!r}"
        found = mismatch(item, actual[position], f"{path}[{position}]")
        if found:
            return found
        position, skipping = position + 1, False
    if not skipping and position != len(actual):
        return f"{path}: {len(actual) - position} more items than the README lists: {actual[position:]!r}"
    return None


# ---------------------------------------------------------------- the run


@dataclass
class Tour:
    start: str
    blocks: list[str]


def the_tour() -> Tour:
    blocks = sh_blocks(README.read_text())
    top, start, rest = blocks[0], blocks[1], blocks[2:]
    assert "make demo" in top and "make test" in top, "the first block is the make demo / make test lines"
    assert "make serve" in start, "the tour's first block starts a hub"
    return Tour(start, rest)


def hub_settings(start_block: str) -> dict[str, str]:
    """The variables the README's start-a-hub line sets (`A=1 B=2 make serve`): the test's hub runs with them."""
    line = next(line for line in start_block.replace("\\\n", " ").splitlines() if "make serve" in line)
    words = shlex.split(line, comments=True)
    return dict(word.split("=", 1) for word in words[: words.index("make")])


#: Prepended to the tour: curl as the reader types it, with each answer's status and body recorded in order.
RECORDING_CURL = r"""
set -eEo pipefail
trap 'echo "tour failed in block $TOUR_BLOCK at: $BASH_COMMAND" >&2' ERR
curl() {
  local body status
  body=$(mktemp "$TOUR_ANSWERS.XXXXXX")
  status=$(command curl "$@" -o "$body" -w '%{http_code}')
  printf '%s %s\n' "$status" "$body" >> "$TOUR_ANSWERS"
  cat "$body"
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Hub:
    url: str
    #: What the hub and the reader's shell share on a clone through `instance/`: the database and its keys.
    shared: dict[str, str]


def start_hub(tmp_path: Path, settings: dict[str, str], log):
    """`make serve` in a fresh instance: the migrations, then gunicorn with the README's settings."""
    coalition = str(Path(sys.executable).parent / "coalition")
    port = free_port()
    shared = {"DATABASE_URL": f"sqlite:///{tmp_path / 'coalition.db'}",
              "COALITION_SIGNING_KEYS_DIR": str(tmp_path / "settlement-keys"),
              "COALITION_MASTER_KEY_FILE": str(tmp_path / "master.key")}
    env = {**os.environ, **settings, **shared}
    subprocess.run([coalition, "db", "upgrade"], env=env, cwd=tmp_path, check=True, capture_output=True)
    process = subprocess.Popen([coalition, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
                               env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    return process, Hub(f"http://127.0.0.1:{port}", shared)


def wait_until_up(process, hub: Hub, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(hub.url + "/v1/openapi.json", timeout=1)
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the hub did not start:\n{log_path.read_text()}") from None
            time.sleep(0.1)


def reader_folder(tmp_path: Path) -> Path:
    """A fresh folder where `.venv/bin/coalition` is this venv's command, as at the root of a clone."""
    folder = tmp_path / "reader"
    (folder / ".venv" / "bin").mkdir(parents=True)
    (folder / ".venv" / "bin" / "coalition").symlink_to(Path(sys.executable).parent / "coalition")
    return folder


def run_tour(tour: Tour, hub: Hub, folder: Path) -> tuple[subprocess.CompletedProcess, list[tuple[int, object]]]:
    answers = folder / "answers"
    script = RECORDING_CURL + "".join(f"\nTOUR_BLOCK={n + 1}\n{block}" for n, block in enumerate(tour.blocks))
    done = subprocess.run(["bash", "-c", script], cwd=folder, env={**os.environ, **hub.shared, "HUB": hub.url, "TOUR_ANSWERS": str(answers)},
                          capture_output=True, text=True, timeout=120)
    recorded = []
    for line in (answers.read_text().splitlines() if answers.exists() else []):
        status, path = line.split(" ", 1)
        body = Path(path).read_text()
        try:
            recorded.append((int(status), json.loads(body)))
        except ValueError:
            recorded.append((int(status), body))
    return done, recorded


def check(command: Command, status: int, body) -> str | None:
    expected = command.expected or Expectation(None)
    if expected.status is None and not 200 <= status < 300:
        return f"answered {status}, the README shows a success: {body}"
    if expected.status is not None and status != expected.status:
        return f"answered {status}, the README says {expected.status}: {body}"
    if expected.code is not None:
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        if code != expected.code:
            return f"answered error code {code!r}, the README says {expected.code!r}: {body}"
    if expected.subset is not None:
        return mismatch(expected.subset, body)
    return None


# ---------------------------------------------------------------- the tests


def test_the_readme_tour_runs_as_written_and_answers_what_it_shows(tmp_path):
    tour = the_tour()
    curls = [c for block in tour.blocks for c in commands(block) if CURL.search(" " + c.text)]
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        process, hub = start_hub(tmp_path, hub_settings(tour.start), log)
        try:
            wait_until_up(process, hub, log_path)
            done, answers = run_tour(tour, hub, reader_folder(tmp_path))
        finally:
            process.terminate()
            process.wait(timeout=10)

    for n, (command, (status, body)) in enumerate(zip(curls, answers), 1):
        problem = check(command, status, body)
        assert problem is None, f"curl {n} of the tour:\n{command.text}\n{problem}"
    assert done.returncode == 0, f"the tour failed:\n{done.stderr[-3000:]}\n{done.stdout[-2000:]}"
    assert len(answers) == len(curls), f"{len(curls)} curls in the README, {len(answers)} answers recorded"


def test_the_tour_shows_an_answer_for_every_kind_of_expectation():
    """The convention is used as documented: fields, refusals with a code, a status with fields, no bare curl ids."""
    tour = the_tour()
    found = [c for block in tour.blocks for c in commands(block)]
    expectations = [c.expected for c in found if c.expected]
    assert any(e.subset is not None and e.status is None for e in expectations)
    assert any(e.status == 409 and e.code == "hold_captured" for e in expectations)
    assert any(e.status == 200 and e.subset is not None for e in expectations)
    # Ids come from earlier answers: no path segment of a curl is a literal number.
    for command in found:
        if CURL.search(" " + command.text):
            assert not re.search(r"\$HUB/v1/\S*/\d+(/|\s|\"|$)", command.text), command.text


def test_the_answer_matcher_reads_the_readmes_ellipses():
    subset = expectation('{"a":1,"b":{"c":"x..."},"l":[{"k":1,...},...],"v":...,...}  (a note)').subset
    assert mismatch(subset, {"a": 1, "b": {"c": "xyz"}, "l": [{"k": 1, "z": 2}, 3], "v": [1], "more": 0}) is None
    assert mismatch(subset, {"a": 2, "b": {"c": "x"}, "l": [{"k": 1}], "v": 0}) == "$.a: expected 1, got 2"
    assert mismatch(subset, {"a": 1, "b": {"c": "yx"}, "l": [{"k": 1}], "v": 0}) == "$.b.c: expected 'x...', got 'yx'"
    assert mismatch(subset, {"a": 1, "b": {"c": "x"}, "v": 0}) == "$.l: missing"
    assert mismatch(expectation("[1, 2]").subset, [1, 2, 3]) == "$: 1 more items than the README lists: [3]"
    assert mismatch(expectation("[..., 3]").subset, [1, 2, 3]) is None
    assert mismatch(expectation('{"n": 1}').subset, {"n": True}) == "$.n: expected 1, got True"
    refusal = expectation("-> 409 hold_captured")
    assert (refusal.status, refusal.code, refusal.subset) == (409, "hold_captured", None)
