"""Inline SVG line charts: light enough to redraw after every epoch in a notebook cell."""

from __future__ import annotations

from html import escape

TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#ff7f0e"  # matplotlib's tab:blue and tab:orange, as the report's PNG curves
WIDTH, HEIGHT, PAD = 300, 170, 34


def _ticks(low: float, high: float) -> list[float]:
    span = high - low
    return [low + span * i / 4 for i in range(5)]


def panel(title: str, series: dict[str, tuple[list[float | None], str]], epochs: list[int]) -> str:
    """One chart: a line per series (values per epoch, None where missing), axes, a legend."""
    values = [v for points, _ in series.values() for v in points if v is not None]
    if not values or not epochs:
        return ""
    low, high = min(values), max(values)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    first, last = epochs[0], max(epochs[-1], epochs[0] + 1)

    def x(epoch: float) -> float:
        return PAD + (WIDTH - PAD - 8) * (epoch - first) / (last - first)

    def y(value: float) -> float:
        return HEIGHT - 22 - (HEIGHT - 58) * (value - low) / (high - low)

    parts = [f'<text x="{WIDTH / 2}" y="13" text-anchor="middle" font-size="12" font-weight="600">{escape(title)}</text>']
    for tick in _ticks(low, high):
        parts.append(f'<line x1="{PAD}" x2="{WIDTH - 8}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e3e6eb"/>')
        parts.append(f'<text x="{PAD - 3}" y="{y(tick) + 3:.1f}" text-anchor="end" font-size="9">{tick:.3g}</text>')
    parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 4}" text-anchor="middle" font-size="9">epoch {first}–{epochs[-1]}</text>')
    for i, (name, (points, color)) in enumerate(series.items()):
        xy = [(x(e), y(v)) for e, v in zip(epochs, points) if v is not None]
        if not xy:
            continue
        path = " ".join(f"{a:.1f},{b:.1f}" for a, b in xy)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.5" fill="{color}"/>' for a, b in xy]
        parts.append(f'<text x="{PAD + 6 + 110 * i}" y="27" font-size="10" fill="{color}">{escape(name)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'font-family="sans-serif" role="img" aria-label="{escape(title)}">{"".join(parts)}</svg>')


def curves(history: list[dict]) -> str:
    """Loss and accuracy per epoch, train and validation, as two SVG charts side by side."""
    epochs = [row["epoch"] for row in history]
    charts = []
    for metric in ("loss", "accuracy"):
        series = {f"train {metric}": ([row.get(metric) for row in history], TRAIN_COLOR)}
        val = [row.get(f"val_{metric}") for row in history]
        if any(v is not None for v in val):
            series[f"validation {metric}"] = (val, VAL_COLOR)
        charts.append(panel(metric.capitalize(), series, epochs))
    return f'<div style="display:flex;gap:12px;flex-wrap:wrap">{"".join(charts)}</div>'
