"""Training shown in a notebook cell: one progress bar and the loss/accuracy curves, updated in place.

It needs no server and no widget extension: an HTML display (a ``<progress>`` bar, inline SVG
curves) is replaced in place through IPython's display handle. Where ipywidgets is installed the
bar is an ``IntProgress`` widget beside the same HTML, which frontends redraw without re-rendering.
"""

from __future__ import annotations

import time
from html import escape

import torch
from IPython.display import HTML, display

from mnistlab import svg
from mnistlab.errors import MnistlabError
from mnistlab.training.progress import Progress, format_epoch

REDRAW_SECONDS = 0.5


def _widgets():
    try:
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets


class NotebookProgress(Progress):
    """The cell's live display: bar, last epoch, curves, and the run's messages below them."""

    def __init__(self, widgets: bool | None = None) -> None:
        super().__init__(quiet=True)
        self.widgets = _widgets() if widgets is not False else None
        if widgets and self.widgets is None:
            raise MnistlabError("NotebookProgress(widgets=True) needs ipywidgets: pip install ipywidgets, or pass widgets=None")
        self.history: list[dict] = []
        self.lines: list[str] = []
        self.status = "starting"
        self.step = self.steps = 0
        self._handle = None
        self._bar = self._body = None
        self._drawn_at = 0.0

    def _html(self) -> str:
        bar = "" if self.widgets else f'<progress value="{self.step}" max="{max(self.steps, 1)}" style="width:320px"></progress> '
        parts = [f'<div class="mnistlab-progress">{bar}<code>{escape(self.status)}</code>']
        if self.history:
            parts.append(f"<div><code>{escape(format_epoch(self.history[-1]))}</code></div>" + svg.curves(self.history))
        if self.lines:
            parts.append("<pre style='margin:4px 0'>" + escape("\n".join(self.lines)) + "</pre>")
        return "".join(parts) + "</div>"

    def _draw(self) -> None:
        self._drawn_at = time.monotonic()
        if self.widgets is not None:
            if self._bar is None:
                self._bar = self.widgets.IntProgress(min=0, max=max(self.steps, 1), description="training")
                self._body = self.widgets.HTML()
                display(self.widgets.VBox([self._bar, self._body]))
            self._bar.max, self._bar.value = max(self.steps, 1), self.step
            self._body.value = self._html()
        elif self._handle is None:
            self._handle = display(HTML(self._html()), display_id=True)
        else:
            self._handle.update(HTML(self._html()))

    def on_batch_end(self, epoch: int, epochs: int, step: int, steps: int, loss_sum: torch.Tensor, seen: int) -> str | None:
        if time.monotonic() - self._drawn_at < REDRAW_SECONDS and step < steps and self._drawn_at:
            return None
        self.step, self.steps = step, steps
        self.status = f"Epoch {epoch}/{epochs}: step {step}/{steps}, loss {loss_sum.item() / max(seen, 1):.4f}"
        self._draw()
        return None

    def on_epoch_end(self, row: dict, network: torch.nn.Module) -> str | None:
        self.history.append(row)
        self.step = self.steps
        self.status = f"Epoch {row['epoch']}/{row['epochs']} done"
        self._draw()
        return None

    def message(self, text: str) -> None:
        self.lines.append(text)
        self._draw()
