"""/metrics as a test reads it: the samples of Prometheus' text format, parsed by prometheus-client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample, keyed by its name and its labels."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(found: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when there are none)."""
    wanted = set(labels.items())
    return sum(v for (sample, have), v in found.items() if sample == name and wanted <= have)


def scrape(client, headers: dict | None = None) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.get_data()[:300]
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return samples(response.get_data(as_text=True))
