"""`earmuff eval report`: the last results as one self-contained HTML page with plots.

Officers and auditors read this page, not JSON: each figure stands beside its target,
and the plots (DET curves, WER and recall bars) are embedded as images so the page can
be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ATTRIBUTION = (
    "Speech: WUW-II (CC BY-SA 4.0), Free Spoken Digit Dataset (CC BY-SA 4.0), LibriSpeech "
    "(CC BY 4.0), Picovoice wake-word and speech-to-intent benchmarks (Apache-2.0), Mycroft "
    "Precise community data (public domain)."
)


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot.subplots(figsize=(6.0, 3.6), dpi=100)


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    from matplotlib import pyplot

    pyplot.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def det_points(
    targets: Sequence[float], nontargets: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Miss and false-accept rates at every threshold, from high scores to low."""
    scores = np.concatenate([np.asarray(targets, float), np.asarray(nontargets, float)])
    is_target = np.concatenate([np.ones(len(targets)), np.zeros(len(nontargets))])
    order = np.argsort(-scores, kind="stable")
    accepted_targets = np.cumsum(is_target[order])
    accepted_others = np.cumsum(1 - is_target[order])
    miss = 1 - accepted_targets / max(len(targets), 1)
    false_accept = accepted_others / max(len(nontargets), 1)
    return np.concatenate([[1.0], miss]), np.concatenate([[0.0], false_accept])


def _det_plot(curves: dict[str, tuple[Sequence[float], Sequence[float]]], title: str) -> str:
    figure, axes = _figure()
    floor = 1e-3
    for label, (targets, nontargets) in curves.items():
        miss, false_accept = det_points(targets, nontargets)
        axes.plot(np.maximum(false_accept, floor), np.maximum(miss, floor), label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("false accept rate")
    axes.set_ylabel("miss rate")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    return _png(figure)


def _bars(values: dict[str, float], title: str, target: float | None = None) -> str:
    figure, axes = _figure()
    names = list(values)
    axes.bar(names, [100 * values[n] for n in names], color="#4c72b0")
    if target is not None:
        axes.axhline(100 * target, color="#c44e52", linestyle="--", label="target")
        axes.legend(fontsize=8)
    axes.set_ylabel("%")
    axes.set_title(title)
    axes.tick_params(axis="x", labelrotation=20, labelsize=8)
    return _png(figure)


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * float(value):.1f} %"


def _table(rows: Iterable[Sequence[str]], head: Sequence[str]) -> str:
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{header}</tr>{body}</table>"


def _section(title: str, table: str, images: Iterable[str]) -> str:
    pictures = "".join(
        f'<img alt="{html.escape(title)}" src="data:image/png;base64,{i}">' for i in images
    )
    return f"<section><h2>{html.escape(title)}</h2>{table}{pictures}</section>"


def _wake(result: dict[str, Any]) -> str:
    rows = [
        (str(rule["rule"]), _pct(rule["miss_rate"]), _pct(rule["false_accept_rate"]))
        for rule in result.get("rules", [])
    ]
    clips = result.get("clips", [])
    wake = [c["openwakeword"] for c in clips if c.get("label") == "wake" and "openwakeword" in c]
    other = [c["openwakeword"] for c in clips if c.get("label") != "wake" and "openwakeword" in c]
    images = (
        [_det_plot({"openWakeWord alexa": (wake, other)}, "wake-word detection")]
        if wake and other
        else []
    )
    summary = (
        f"<p>{result['n_wake']} wake clips, {result['n_other']} others; as shipped: miss "
        f"{_pct(result['miss_rate'])}, false accept {_pct(result['false_accept_rate'])} "
        f"(targets ≤ 1 % / ≤ 0.5 %), RTF {result.get('rtf')}</p>"
    )
    return _section(
        "Wake-word verification", summary + _table(rows, ("rule", "miss", "false accept")), images
    )


def _asr(results: list[dict[str, Any]]) -> str:
    rows = [(str(r["model"]), str(r["n"]), _pct(r["wer"]), str(r.get("rtf"))) for r in results]
    image = _bars(
        {str(r["model"]).split(" ")[0]: float(r["wer"]) for r in results}, "word error rate"
    )
    return _section("Speech recognition", _table(rows, ("model", "clips", "WER", "RTF")), [image])


def _pii(result: dict[str, Any]) -> str:
    recall, residue = result["recall"], result["residue_rate"]
    targets = result.get("targets", {})
    rows = [
        (
            kind,
            _pct(recall.get(kind)),
            _pct(targets.get("recall", {}).get(kind)),
            _pct(residue.get(kind)),
            _pct(targets.get("residue_rate", {}).get(kind)),
        )
        for kind in recall
    ]
    images = [
        _bars(
            {k: float(v) for k, v in recall.items() if v is not None},
            "PII masked in the transcript",
        ),
        _bars(
            {k: float(v) for k, v in residue.items() if v is not None},
            "PII heard again after bleeping",
        ),
    ]
    table = _table(rows, ("type", "recall", "target", "residue", "target"))
    return _section(f"PII ({result['n']} clips, {result.get('model')})", table, images)


def _anonymization(result: dict[str, Any]) -> str:
    keys = ("eer_original", "eer_ignorant", "eer_lazy_informed", "eer_semi_informed")
    intervals = result.get("intervals") or {}

    def interval(key: str) -> str:
        found = intervals.get(key)
        return "" if not found else f"{_pct(found[0])} to {_pct(found[1])}"

    rows = [(k.removeprefix("eer_"), _pct(result.get(k)), interval(k)) for k in keys]
    rows += [
        ("WER original", _pct(result.get("wer_original")), ""),
        ("WER anonymized", _pct(result.get("wer_anonymized")), ""),
        ("WER rise", _pct(result.get("wer_rise")), interval("wer_rise")),
    ]
    level = f"{round(100 * intervals['level'])} % interval" if intervals else "interval"
    heading = ("measure", "value", f"{level} over speakers")
    images = [
        _bars(
            {k.removeprefix("eer_"): float(result[k]) for k in keys if result.get(k) is not None},
            "speaker-verification EER (higher hides better)",
            0.35,
        )
    ]
    curves = result.get("scores", {})
    if curves:
        images.append(
            _det_plot(
                {
                    name.replace("_", "-"): (s["target"], s["nontarget"])
                    for name, s in curves.items()
                },
                "speaker verification",
            )
        )
    anonymizer = result.get("anonymizer") or {"name": result.get("method", "")}
    method = html.escape(str(anonymizer.get("name", "")))
    head = (
        f"<p>{result.get('n_speakers')} speakers, {result.get('n_utterances')} utterances, "
        f"method {method}</p>"
    )
    return _section("Voice anonymization", head + _table(rows, heading), images)


def _frontier_plot(result: dict[str, Any]) -> str:
    """Each point's EER for every attacker against its rise in WER, with the target box."""
    figure, axes = _figure()
    attackers = {"eer_ignorant": "o", "eer_lazy_informed": "s", "eer_semi_informed": "^"}
    for key, marker in attackers.items():
        xs = [100 * p["wer_rise"] for p in result["points"] if p.get(key) is not None]
        ys = [100 * p[key] for p in result["points"] if p.get(key) is not None]
        axes.scatter(xs, ys, marker=marker, label=key.removeprefix("eer_"), alpha=0.8)
    targets = result.get("targets", {})
    if "wer_rise" in targets:
        axes.axvline(100 * targets["wer_rise"], color="#c44e52", linestyle="--", linewidth=1)
    if "eer_semi_informed" in targets:
        axes.axhline(100 * targets["eer_semi_informed"], color="#c44e52", linestyle=":")
    if "eer_ignorant" in targets:
        axes.axhline(100 * targets["eer_ignorant"], color="#c44e52", linestyle="--", linewidth=1)
    axes.set_xlabel("rise in WER (points)")
    axes.set_ylabel("speaker-verification EER (%)")
    axes.set_title("privacy against utility (upper left is better)")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    return _png(figure)


def _frontier(result: dict[str, Any]) -> str:
    rows = [
        (
            ("* " if p.get("on_frontier") else "") + str(p["label"]),
            _pct(p.get("eer_ignorant")),
            _pct(p.get("eer_lazy_informed")),
            _pct(p.get("eer_semi_informed")),
            _pct(p.get("wer_rise")),
        )
        for p in result["points"]
    ]
    head = (
        f"<p>{result.get('n_utterances')} utterances; originals: EER "
        f"{_pct(result.get('eer_original'))}, WER {_pct(result.get('wer_original'))} "
        f"({html.escape(str(result.get('asr_model')))}). * marks the frontier.</p>"
    )
    table = _table(rows, ("point", "ignorant", "lazy-informed", "semi-informed", "WER rise"))
    return _section("Privacy/utility frontier", head + table, [_frontier_plot(result)])


def render_report(results: Sequence[dict[str, Any]], out: Path) -> Path:
    """Write the page for whichever results are given (wake, asr, pii, anonymization,
    frontier)."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        by_task.setdefault(str(result.get("task")), []).append(result)
    sections = []
    if "wake" in by_task:
        sections.append(_wake(by_task["wake"][-1]))
    if "asr" in by_task:
        sections.append(_asr(by_task["asr"]))
    if "pii" in by_task:
        sections.append(_pii(by_task["pii"][-1]))
    if "anonymization" in by_task:
        sections.append(_anonymization(by_task["anonymization"][-1]))
    if "frontier" in by_task:
        sections.append(_frontier(by_task["frontier"][-1]))
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>earmuff evaluation</title><style>body{font-family:sans-serif;max-width:60em;"
        "margin:2em auto;color:#222}table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}img{display:block;"
        "margin:.5em 0}</style></head><body><h1>earmuff: privacy and utility on real speech</h1>"
        + "".join(sections)
        + f"<footer><p>{html.escape(ATTRIBUTION)}</p></footer></body></html>"
    )
    out.write_text(page, encoding="utf-8")
    return out
