"""Every error code the hub can answer is in one registry, with the status it is answered with, and the README prints it."""

from __future__ import annotations

import ast
from pathlib import Path

from network import errors
from network.api.errors import CODES as HTTP_CODES
from network.error_codes import CODES, IN_A_BATCH, markdown_table

ROOT = Path(__file__).parent.parent
SOURCES = [path for package in ("network", "settlement", "partners", "plugins") for path in (ROOT / package).rglob("*.py")
           if "migrations" not in path.parts]
STATUS_OF = {name: cls.status for name, cls in vars(errors).items()
             if isinstance(cls, type) and issubclass(cls, errors.DomainError)}


def raised_codes() -> list[tuple[str, int | None, str]]:
    """(code, status or None, where) for each code the source names: `code=` of a call, `code = ...` of an error class."""
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                for keyword in node.keywords:
                    if keyword.arg != "code":
                        continue
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    if isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
                        found.append((keyword.value.value, STATUS_OF.get(func), where))
                    elif isinstance(keyword.value, ast.JoinedStr):  # code=f"hold_{status}": each registered code so made
                        prefix = keyword.value.values[0].value
                        made = [code for code in CODES if code.startswith(prefix)]
                        assert made, f"{where}: no registered code starts with {prefix!r}"
                        found.extend((code, STATUS_OF.get(func), where) for code in made)
            elif isinstance(node, ast.ClassDef):
                for statement in node.body:
                    if (isinstance(statement, ast.Assign) and [getattr(t, "id", None) for t in statement.targets] == ["code"]
                            and isinstance(statement.value, ast.Constant)):
                        found.append((statement.value.value, None, f"{path.relative_to(ROOT)}:{statement.lineno}"))
    return found


def test_every_code_raised_is_registered_with_the_status_it_is_raised_with():
    found = raised_codes()
    assert len(found) > 70  # the scan sees the source: a scan that found nothing would pass anything
    missing = sorted({(code, where) for code, _, where in found if code not in CODES})
    assert missing == []
    wrong = sorted((code, status, CODES[code].status, where) for code, status, where in found
                   if status is not None and CODES[code].status != status)
    assert wrong == []


def test_every_error_class_answers_its_registered_status():
    for name, cls in vars(errors).items():
        if isinstance(cls, type) and issubclass(cls, errors.DomainError):
            assert CODES[cls.code].status == cls.status, name


def test_the_http_layer_codes_are_registered_with_their_status():
    for status, code in HTTP_CODES.items():
        assert CODES[code].status == status


def test_the_registry_lists_no_code_the_hub_never_answers():
    named = {code for code, _, _ in raised_codes()} | set(HTTP_CODES.values()) | {"http_error"}
    batch = {entry.code for entry in CODES.values() if entry.status == IN_A_BATCH}
    source = "".join(path.read_text() for path in SOURCES)
    assert all(f'"{code}"' in source for code in batch)
    assert sorted(set(CODES) - named - batch) == []


def test_the_readme_error_table_is_the_registry():
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, "regenerate the README's error table: python -m network.error_codes"
