"""The plots of `bench/run.py --plot`: one SVG per area (the bench program a workload's
libprocessing side runs: bench_process.c -> process, bench_manager_server -> manager),
drawn from the numbers of the latest run in BENCHMARKS.md's generated table, so that no
benchmark runs again. Each workload gets a panel of its own, in its own unit: one bar per
implementation (libprocessing, the raw floor the ratios use, Boost where it ran, Python)
at the median, with the min–max as a whisker; a log scale where the bars differ by more
than LOG_RATIO. Needs matplotlib (pip install matplotlib), used with the Agg backend.
"""

import re
import textwrap
from dataclasses import dataclass

LOG_RATIO = 20  # a panel whose largest and smallest bar differ more gets a log scale
LINE_DATE = re.compile(r"; (\d{4}-\d\d-\d\d \d\d:\d\d) UTC$")
CELL = re.compile(r"^(\S+) (.+?) \((\S+)–(\S+)\)$")
FLOOR = re.compile(r"^(.*) \[([^\]]+)\]$")
# (series, colour); the order of the bars in a panel, top to bottom.
SERIES = [("libprocessing", "#1f77b4"), ("raw floor", "#7f7f7f"),
          ("Boost", "#2ca02c"), ("Python", "#ff7f0e")]


@dataclass
class Bar:
    series: str
    label: str  # what the bar is: the series, with the floor's name for floors
    median: float
    lo: float
    hi: float


def area(workload):
    """process, connection, sync, queue, pool or manager: from the libprocessing program."""
    return workload.lib.removeprefix("bench_").split("_")[0]


def parse_cell(text, unit):
    """(median, lo, hi) of a "<median> <unit> (<lo>–<hi>)" cell; None for "—"."""
    text = text.strip()
    if text == "—":
        return None
    m = CELL.match(text)
    if not m or m.group(2) != unit:
        raise SystemExit(f"BENCHMARKS.md: cannot read {text!r} as a value in {unit}")
    return tuple(float(m.group(i)) for i in (1, 3, 4))


def bars(workload, cells):
    """The bars of one table row (its cells after the workload's)."""
    out = []
    lib = parse_cell(cells[0], workload.unit)
    if lib:
        out.append(Bar("libprocessing", "libprocessing", *lib))
    floors = {}
    for part in cells[2].split("; "):
        m = FLOOR.match(part.strip())
        if m and not m.group(2).endswith(": not built"):
            floors[m.group(2)] = parse_cell(m.group(1), workload.unit)
    names = [f[0] for f in workload.floors()]
    if names and floors.get(names[0]):
        out.append(Bar("raw floor", f"raw floor: {names[0]}", *floors[names[0]]))
    for name in names[1:]:
        if name.startswith("Boost") and floors.get(name):
            out.append(Bar("Boost", name, *floors[name]))
    python = parse_cell(cells[1], workload.unit)
    if python:
        out.append(Bar("Python", "Python multiprocessing", *python))
    return out


def latest_section(sections):
    """The section whose machine line has the latest date."""
    dated = [(LINE_DATE.search(s.machine), s) for s in sections]
    dated = [(m.group(1), s) for m, s in dated if m]
    if not dated:
        raise SystemExit("BENCHMARKS.md: no dated run in the generated part; run "
                         "bench/run.py --write first")
    return max(dated, key=lambda d: d[0])[1]


def plot(sections, workloads, row_label, model_of, out_dir):
    """Writes <out_dir>/<area>.svg for each area of the latest section; returns them."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("bench/run.py --plot needs matplotlib: pip install matplotlib")
    # Reproducible files: no date in them, and the same ids from one run to the next.
    matplotlib.rcParams.update({"svg.hashsalt": "libprocessing", "svg.fonttype": "none",
                                "font.size": 9})

    sec = latest_section(sections)
    by_label = {w.label(): w for w in workloads}
    rows = {}
    for line in sec.rows:
        w = by_label.get(row_label(line))
        if w is None:
            continue  # a row of a workload run.py no longer has
        cells = [c.strip() for c in line.strip().strip("|").split("|")][1:]
        found = bars(w, cells)
        if found:
            rows.setdefault(area(w), []).append((w, found))
    if not rows:
        raise SystemExit("BENCHMARKS.md: the latest run has no rows to plot")
    date = LINE_DATE.search(sec.machine).group(1)
    commit = re.search(r"libprocessing (\w+);", sec.machine)
    when = f"{date} UTC" + (f", libprocessing {commit.group(1)}" if commit else "")
    if sec.notes:
        when += "; some rows from later runs, see BENCHMARKS.md"

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in sorted(rows):
        panels = rows[name]
        heights = [0.55 + 0.32 * len(b) for _, b in panels]
        fig, axes = plt.subplots(len(panels), 1, figsize=(8.5, sum(heights) + 0.9),
                                 gridspec_kw={"height_ratios": heights}, squeeze=False,
                                 layout="constrained")
        fig.suptitle(f"{name}: libprocessing, raw floor and Python multiprocessing\n"
                     f"{model_of(sec)} ({when})", fontsize=10)
        for ax, (w, found) in zip(axes[:, 0], panels):
            draw(ax, w, found)
        path = out_dir / f"{name}.svg"
        fig.savefig(path, format="svg", metadata={"Date": None})
        plt.close(fig)
        written.append(path)
    return written


def draw(ax, w, found):
    colour = dict(SERIES)
    order = {s: i for i, (s, _) in enumerate(SERIES)}
    found = sorted(found, key=lambda b: order[b.series])
    ys = list(range(len(found)))[::-1]
    meds = [b.median for b in found]
    err = [[b.median - b.lo for b in found], [b.hi - b.median for b in found]]
    ax.barh(ys, meds, color=[colour[b.series] for b in found], height=0.7,
            xerr=err, error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#333333"})
    ax.set_yticks(ys, [b.label for b in found], fontsize=8)
    if max(meds) / min(meds) > LOG_RATIO:
        ax.set_xscale("log")
        ax.set_xlim(min(b.lo for b in found) / 2, max(b.hi for b in found) * 3)
    else:
        ax.set_xlim(0, max(b.hi for b in found) * 1.18)
    for y, b in zip(ys, found):
        ax.annotate(f"{b.median:g}", (b.hi, y), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=7)
    better = "lower is better" if w.lower_is_better else "higher is better"
    ax.set_xlabel(f"{w.unit} ({better}; median, whisker min–max)", fontsize=8)
    ax.set_title("\n".join(textwrap.wrap(w.label(), 100)), fontsize=8.5, loc="left")
    ax.grid(axis="x", alpha=0.3, which="both")
    ax.set_axisbelow(True)
