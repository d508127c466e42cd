"""The night's picture as server-rendered SVG (no script, no chart library, nothing fetched).

* ``confidence_histogram``: how many transcripts of the night have each mean word confidence (bins of
  ``BIN``), with the night's bar (``min_mean_confidence``) drawn as a line;
* ``queue_sizes``: recordings in the review queue per night, for the ``NIGHTS`` nights up to this one.

Only figures and dates are drawn; every text goes through ``markupsafe.escape``.
"""

from __future__ import annotations

import datetime as dt

from markupsafe import Markup, escape

#: 0.05: twenty bars over 0..1, fine enough to see a night's spread around a bar of 0.85
BIN = 0.05
NIGHTS = 30
WIDTH, HEIGHT, PAD = 640, 220, 36


def _frame(title: str, body: list[str], label: str) -> Markup:
    return Markup(
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart' role='img' aria-label='{escape(label)}' "
        f"width='{WIDTH}' height='{HEIGHT}' viewBox='0 0 {WIDTH} {HEIGHT}' font-family='system-ui,sans-serif' "
        f"font-size='11'><title>{escape(title)}</title>"
        f"<line x1='{PAD}' y1='{HEIGHT - PAD}' x2='{WIDTH - 8}' y2='{HEIGHT - PAD}' stroke='#555'/>"
        + "".join(body)
        + "</svg>"
    )


def confidence_histogram(means: list[float], bar: float) -> Markup:
    """Transcripts per bin of mean word confidence, and the bar.

    :param means: each transcript's mean word confidence (0..1).
    :param bar: the night's ``min_mean_confidence``.
    """
    bins = round(1 / BIN)
    counts = [0] * bins
    for mean in means:
        counts[min(bins - 1, max(0, int(mean / BIN)))] += 1
    top = max([*counts, 1])
    plot_w, plot_h = WIDTH - PAD - 8, HEIGHT - 2 * PAD
    step = plot_w / bins
    body = []
    for i, count in enumerate(counts):
        height = plot_h * count / top
        x, y = PAD + i * step, HEIGHT - PAD - height
        under = (i + 1) * BIN <= bar + 1e-9
        body.append(
            f"<rect class='bin' data-count='{count}' data-low='{i * BIN:.2f}' x='{x + 1:.1f}' y='{y:.1f}' "
            f"width='{step - 2:.1f}' height='{height:.1f}' fill='{'#d9822b' if under else '#3a7bbf'}'>"
            f"<title>{i * BIN:.2f}–{(i + 1) * BIN:.2f}: {count}</title></rect>"
        )
        if count:
            body.append(f"<text x='{x + step / 2:.1f}' y='{y - 3:.1f}' text-anchor='middle'>{count}</text>")
    for tick in range(0, 11, 2):
        x = PAD + plot_w * tick / 10
        body.append(f"<text x='{x:.1f}' y='{HEIGHT - PAD + 14}' text-anchor='middle'>{tick / 10:.1f}</text>")
    x = PAD + plot_w * bar
    body.append(
        f"<line class='bar' data-bar='{bar}' x1='{x:.1f}' y1='{PAD - 8}' x2='{x:.1f}' y2='{HEIGHT - PAD}' "
        f"stroke='#c00' stroke-width='2' stroke-dasharray='5 3'/>"
        f"<text x='{x - 4:.1f}' y='{PAD - 12}' text-anchor='end' fill='#c00'>bar {escape(f'{bar:g}')}</text>"
        f"<text x='{PAD + plot_w / 2:.1f}' y='{HEIGHT - 6}' text-anchor='middle'>mean word confidence "
        f"({len(means)} transcripts)</text>"
    )
    return _frame("Transcripts by mean word confidence", body, "histogram of mean word confidence")


def queue_sizes(sizes: dict[str, int], night: str) -> Markup:
    """Recordings in the queue per night, for the ``NIGHTS`` nights ending with ``night``.

    :param sizes: recordings in the queue by night (nights absent count 0).
    :param night: the last night drawn.
    """
    last = dt.date.fromisoformat(night)
    nights = [(last - dt.timedelta(days=NIGHTS - 1 - i)).isoformat() for i in range(NIGHTS)]
    values = [sizes.get(n, 0) for n in nights]
    top = max([*values, 1])
    plot_w, plot_h = WIDTH - PAD - 8, HEIGHT - 2 * PAD
    step = plot_w / NIGHTS
    body = []
    for i, (name, value) in enumerate(zip(nights, values, strict=True)):
        height = plot_h * value / top
        x, y = PAD + i * step, HEIGHT - PAD - height
        fill = "#c05621" if name == night else "#6b7f99"
        body.append(
            f"<rect class='night' data-night='{escape(name)}' data-count='{value}' x='{x + 1:.1f}' "
            f"y='{y:.1f}' width='{step - 2:.1f}' height='{height:.1f}' fill='{fill}'>"
            f"<title>{escape(name)}: {value}</title></rect>"
        )
        if value:
            body.append(f"<text x='{x + step / 2:.1f}' y='{y - 3:.1f}' text-anchor='middle'>{value}</text>")
        if i % 7 == NIGHTS % 7 - 1 or name == night:
            body.append(
                f"<text x='{x + step / 2:.1f}' y='{HEIGHT - PAD + 14}' text-anchor='middle'>{escape(name[5:])}</text>"
            )
    body.append(
        f"<text x='{PAD + plot_w / 2:.1f}' y='{HEIGHT - 6}' text-anchor='middle'>recordings in the review "
        f"queue per night, last {NIGHTS} nights</text>"
    )
    return _frame("Queue size per night", body, "bar chart of queue size per night")
