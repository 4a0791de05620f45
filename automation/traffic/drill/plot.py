"""The drill's PNG timeline: per-region p95 and errors (Prometheus), served share (HAProxy's
counters), the controller's dials and HAProxy's weights, with decision and alert markers and
the fault, outage and pin shaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = {"us-east-1": "tab:blue", "us-west-2": "tab:orange"}


def _spans(report: dict[str, Any]) -> list[tuple[float, float, str, str]]:
    ev, t0 = report["events"], report["started_at"]
    end = max([x["t"] for x in report["served_share"]] or [0.0])
    spans = []
    if "fault_at" in ev:
        stop = ev.get("fault_cleared_at", t0 + end)
        spans.append((ev["fault_at"] - t0, stop - t0, "orange", "fault"))
    if "outage_at" in ev:
        spans.append((ev["outage_at"] - t0, ev["restored_at"] - t0, "grey", "Prometheus down"))
    if "pin_at" in ev:
        spans.append((ev["pin_at"] - t0, ev["pin_expires_at"] - t0, "purple", "pinned"))
    return spans


def _line(ax: Any, rows: list[dict[str, Any]], region: str, **kw: Any) -> None:
    pts = [(r["t"], r[region]) for r in rows if r.get(region) is not None]
    if pts:
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, color=COLORS.get(region), **kw)


def _panels(axes: Any, report: dict[str, Any], regions: list[str]) -> None:
    settings = report.get("settings", {})
    for r in regions:
        _line(axes[0], report["p95_s"], r, label=r)
        err = [{"t": x["t"], r: x[r] * 100} for x in report["error_ratio"] if x.get(r) is not None]
        _line(axes[1], err, r, label=r)
        _line(axes[2], report["served_share"], r, label=f"{r} served")
        dials = [{"t": d["t"], r: d["dials"][r]} for d in report["decisions"]]
        _line(axes[3], dials, r, label=f"{r} dial", drawstyle="steps-post")
        weights = [
            {"t": w["t"], r: 100.0 * w[r] / max(1, sum(w[x] for x in regions))}
            for w in report["weights"]
        ]
        _line(axes[2], weights, r, label=f"{r} HAProxy weight", linestyle=":", linewidth=1)
    if "p95_threshold_s" in settings:
        axes[0].axhline(settings["p95_threshold_s"], color="red", lw=0.8, label="p95 threshold")
    if "error_ratio_threshold" in settings:
        axes[1].axhline(settings["error_ratio_threshold"] * 100, color="red", lw=0.8)
    axes[2].axhline(report["floor"], color="red", lw=0.8, label=f"floor {report['floor']}%")
    axes[2].set_ylim(0, 100)
    axes[3].set_ylim(0, 105)
    for ax, label in zip(
        axes, ("p95 1m (s)", "errors 1m (%)", "served share (%)", "dial"), strict=True
    ):
        ax.set_ylabel(label)


def _markers(axes: Any, report: dict[str, Any]) -> None:
    t0 = report["started_at"]
    for d in report["decisions"]:
        if d["changed"]:
            for ax in axes:
                ax.axvline(d["t"], color="black", lw=0.6, alpha=0.5)
    firing = [a for a in report["alerts"] if a["status"] == "firing"]
    for i, a in enumerate(firing):
        for ax in axes:
            ax.axvline(a["at"] - t0, color="red", lw=0.8, ls="--", alpha=0.7)
        axes[0].annotate(
            a["labels"].get("slo_name", a["name"]),
            (a["at"] - t0, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=6,
            color="red",
            rotation=90,
            va="top",
            xytext=(2 + 6 * (i % 3), 0),
            textcoords="offset points",
        )
    for start, end, color, label in _spans(report):
        for i, ax in enumerate(axes):
            ax.axvspan(start, end, color=color, alpha=0.12, label=label if i == 2 else None)


def plot(report: dict[str, Any], path: Path) -> Path:
    """Write the timeline of ``report`` (the drill's JSON) as a PNG at ``path``."""
    # matplotlib is heavy to import and only this output needs it.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regions = sorted(report["natural"])
    fig, axes = plt.subplots(4, 1, figsize=(11, 10), sharex=True)
    _panels(axes, report, regions)
    _markers(axes, report)
    axes[-1].set_xlabel("seconds since the lab started (black: weight decisions, red: alerts)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(loc="center left", fontsize=7)
    mins = report["min_share"]
    fig.suptitle(
        f"summit traffic drill {report['scenario']} ({report['fault'].get('description', '')}): "
        f"time to steer {report['time_to_steer_s']} s, flaps {report['flaps']}, "
        f"min share {mins}, alerts {sum(a['status'] == 'firing' for a in report['alerts'])}",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
