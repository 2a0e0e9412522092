"""The desk's pictures as geometry: pure functions of integer figures, drawn by the templates as inline SVG.

Nothing here reads the database or knows a page: a chart is what a set of
figures looks like, so it is tested with figures alone. Geometry is integer
arithmetic (floor division) in a fixed view box the SVG scales to its
width; the figures themselves are always also in a table beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: How many shades a heat map has above "nothing" (classes heat-1..heat-5; heat-0 is an empty cell).
SHADES = 5
#: The view box every chart is drawn in, and the margins left for the axis labels.
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 260, 56, 40, 16


def shade(value: int, most: int) -> int:
    """0 for nothing, else 1..SHADES by the value's share of the largest (ceiling, so any value shows)."""
    if value <= 0 or most <= 0:
        return 0
    return min(SHADES, -(-value * SHADES // most))


@dataclass(frozen=True)
class Step:
    """One shade of the legend: the values from `low` to `high` inclusive."""

    shade: int
    low: int
    high: int


def legend(most: int) -> list[Step]:
    """The value range of each shade that some value can take (a shade of an empty range is left out)."""
    steps = [Step(level, (level - 1) * most // SHADES + 1, level * most // SHADES) for level in range(1, SHADES + 1)]
    return [step for step in steps if step.low <= step.high]


@dataclass(frozen=True)
class Cell:
    points: int
    amount: str | None
    shade: int


@dataclass(frozen=True)
class HeatMap:
    """The provenance matrix as a grid: rows issue, columns redeem."""

    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell]
    legend: list[Step]

    def cell(self, row: str, column: str) -> Cell:
        return self.cells.get((row, column), Cell(0, None, 0))


def heat_map(matrix: list[dict], parties: list[str]) -> HeatMap:
    """A statement's matrix cells ({"issuer", "redeemer", "points", "amount"}) over its parties, shaded by points."""
    most = max((cell["points"] for cell in matrix), default=0)
    issuers = list(dict.fromkeys([*parties, *(cell["issuer"] for cell in matrix)]))
    redeemers = list(dict.fromkeys([*parties, *(cell["redeemer"] for cell in matrix)]))
    cells = {(cell["issuer"], cell["redeemer"]): Cell(cell["points"], cell["amount"], shade(cell["points"], most))
             for cell in matrix}
    return HeatMap(issuers, redeemers, cells, legend(most))


#: A share drawn as basis points: 10,000 is the whole.
WHOLE = 10_000


def shares_map(cells: list[dict], rows: list[str], columns: list[str], sizes: dict[str, int]) -> HeatMap:
    """Cells ({"issuer": row, "redeemer": column, "points": count, "amount": label}) shaded by their share of their
    row's size (a cohort's retention), so a small cohort's month reads as dark as a large one's; the legend is in
    basis points of the whole."""
    shaded = {(cell["issuer"], cell["redeemer"]): Cell(cell["points"], cell["amount"], shade(
        cell["points"] * WHOLE // sizes[cell["issuer"]] if sizes.get(cell["issuer"]) else 0, WHOLE)) for cell in cells}
    return HeatMap(rows, columns, shaded, legend(WHOLE))


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    series: int
    value: int
    label: str


@dataclass(frozen=True)
class Tick:
    position: int
    label: str


@dataclass(frozen=True)
class Chart:
    """What a template draws: bars or a line's points, the axis ticks, the series' names (classes series-0..)."""

    bars: list[Bar]
    points: list[tuple[int, int]]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    series: list[str]
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def polyline(self) -> str:
        return " ".join(f"{x},{y}" for x, y in self.points)

    @property
    def base(self) -> int:
        return self.height - BOTTOM


def _scale(value: int, most: int) -> int:
    """A value's height in the plot, in view-box units."""
    return value * (HEIGHT - BOTTOM - TOP) // most if most else 0


def _y_ticks(most: int) -> list[Tick]:
    """The axis at 0, half and the largest value."""
    return [Tick(HEIGHT - BOTTOM - _scale(value, most), str(value)) for value in sorted({0, most // 2, most})]


def grouped_bars(groups: list[str], series: list[str], values: dict[tuple[str, str], int]) -> Chart:
    """Bars side by side per group (a week), one per series (a figure of a partner); values by (group, series)."""
    most = max(values.values(), default=0)
    span = (WIDTH - LEFT) // max(1, len(groups))
    bar = max(1, (span - 8) // max(1, len(series)))
    bars, ticks = [], []
    for g, group in enumerate(groups):
        left = LEFT + g * span + 4
        ticks.append(Tick(left + (span - 8) // 2, group))
        for s, name in enumerate(series):
            value = values.get((group, name), 0)
            height = _scale(value, most)
            bars.append(Bar(left + s * bar, HEIGHT - BOTTOM - height, max(1, bar - 1), height, s, value,
                            f"{name}, {group}: {value}"))
    return Chart(bars, [], ticks, _y_ticks(most), series)


def line(labels: list[str], values: list[int]) -> Chart:
    """One point per value, left to right, joined: a figure over time."""
    most = max(values, default=0)
    step = (WIDTH - LEFT - 16) // max(1, len(values) - 1)
    points = [(LEFT + 8 + i * step, HEIGHT - BOTTOM - _scale(value, most)) for i, value in enumerate(values)]
    ticks = [Tick(x, label) for (x, _), label in zip(points, labels)]
    return Chart([], points, ticks, _y_ticks(most), [])
