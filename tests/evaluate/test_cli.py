"""``earmuff eval`` end to end on a handful of real clips (tiny.en, a few seconds each)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from earmuff.cli.evaluate import app

runner = CliRunner()

WAKE_CLIPS = [
    ("alexa/0.flac", "wake", "alexa"),  # one of the FLACs libsndfile loses sync on
    ("alexa/2.flac", "wake", "alexa"),
    ("digits/0_george_0.wav", "other", "digits"),
    ("wuw/calls/00000/WUWII00000_001.ulaw", "other", "wuw_wakeword_isolated"),
]


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run also keeps its result in ./earmuff-eval: keep that out of the checkout."""
    monkeypatch.chdir(tmp_path)


def run(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def read(path: Path) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(path.read_text())
    return payload


def test_eval_wake_scores_each_detector_and_the_fusion(corpus: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "wake.jsonl"
    manifest.write_text(
        "".join(
            json.dumps(
                {"audio_filepath": str(corpus / path), "duration": 1.0, "label": lab, "source": src}
            )
            + "\n"
            for path, lab, src in WAKE_CLIPS
        )
    )
    out = tmp_path / "out" / "wake.json"
    result = run("wake", "--manifest", str(manifest), "--json", str(out), "--threshold", "0.5")
    report = read(out)
    assert (report["task"], report["n_wake"], report["n_other"]) == ("wake", 2, 2)
    for key in ("miss_rate", "false_accept_rate", "rtf"):
        assert 0.0 <= report[key] <= 1.0, key
    assert set(report["detectors"]) == {"openwakeword", "transcript"}
    assert report["missed"] == [], "two clear alexas"
    assert report["false_accepts"] == []
    assert set(report["by_source"]) == {"alexa", "digits", "wuw_wakeword_isolated"}
    assert any(rule["rule"] == "transcript alone" for rule in report["rules"])
    assert len(report["clips"]) == 4
    assert "miss 0.0 %" in result.output


def test_eval_asr_measures_word_errors_on_filtered_clips(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "asr.json"
    manifest = corpus / "manifests" / "speakers.jsonl"
    run(
        *("asr", "--manifest", str(manifest), "--json", str(out), "--model", "tiny.en"),
        *("--filter", r"WUWII00000_0(0[6-9]|10)\.", "--limit", "2"),
    )
    report = read(out)
    assert report["n"] == 2
    assert report["root"] == str(corpus.resolve())
    assert 0.0 <= report["wer"] < 0.5, "tiny.en hears these two clips well"
    assert report["reference_words"] > 20
    assert 0.0 < report["rtf"] < 1.0
    assert [item["file"] for item in report["items"]] == [
        "wuw/calls/00000/WUWII00000_006.ulaw",
        "wuw/calls/00000/WUWII00000_007.ulaw",
    ]


def test_eval_pii_reports_recall_residue_and_misses(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "pii.json"
    manifest = corpus / "manifests" / "pii.jsonl"
    run(
        *("pii", "--manifest", str(manifest), "--json", str(out), "--model", "tiny.en"),
        *("--filter", "WUWII00000_000|phone_george_00"),
    )
    report = read(out)
    assert (report["n"], report["n_by_type"]) == (2, {"PERSON": 1, "PHONE_NUMBER": 1})
    for key in ("recall", "residue_rate", "reference_recall", "asr_reveal_rate", "unbleeped_rate"):
        assert set(report[key]) == {"overall", "PERSON", "PHONE_NUMBER"}, key
        assert all(0.0 <= value <= 1.0 for value in report[key].values()), key
    assert report["recall"]["PHONE_NUMBER"] == 1.0, "seven spoken digits are always masked"
    assert set(report["misses"]) <= {"PERSON", "PHONE_NUMBER"}
    phone = next(i for i in report["items"] if i["file"].startswith("phone/"))
    assert "[PHONE_NUMBER]" in phone["masked"]
    assert phone["bleeped_spans"]
    assert 0.0 < report["rtf"] < 2.0


def test_a_bad_manifest_stops_before_any_model_loads(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": "x.wav", "duration": 1}) + "\n")
    result = runner.invoke(app, ["asr", "--manifest", str(manifest), "--root", str(tmp_path)])
    assert result.exit_code == 2
    assert "missing field(s) text" in result.output


def test_a_bad_filter_or_one_matching_nothing_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": "x.wav", "duration": 1, "text": ""}) + "\n")
    bad = runner.invoke(app, ["asr", "--manifest", str(manifest), "--filter", "("])
    assert bad.exit_code == 2
    assert "not a regular expression" in bad.output
    none = runner.invoke(app, ["asr", "--manifest", str(manifest), "--filter", "nothing"])
    assert none.exit_code == 2
    assert "no clips" in none.output


@pytest.mark.parametrize("task", ["wake", "asr", "pii"])
def test_every_task_has_help(task: str) -> None:
    result = runner.invoke(app, [task, "--help"])
    assert result.exit_code == 0
    assert "--manifest" in result.output


def test_report_renders_the_latest_result_of_each_task(corpus: Path, tmp_path: Path) -> None:
    manifest = corpus / "manifests" / "wake.jsonl"
    run("wake", "--manifest", str(manifest), "--limit", "3")
    assert (tmp_path / "earmuff-eval" / "wake.json").is_file()
    done = CliRunner().invoke(app, ["report", "--out", str(tmp_path / "r.html")])
    assert done.exit_code == 0, done.output
    assert "Wake-word verification" in (tmp_path / "r.html").read_text()


def test_report_without_results_says_what_to_do(tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["report"])
    assert done.exit_code == 2
    assert "run an evaluation first" in done.output


def test_eval_anonymization_measures_three_attackers_and_the_word_errors(
    corpus: Path, tmp_path: Path
) -> None:
    manifest = corpus / "manifests" / "speakers.jsonl"
    run("anonymization", "--manifest", str(manifest), "--limit", "24", "--splits", "2")
    result = read(tmp_path / "earmuff-eval" / "anonymization.json")
    for key in ("eer_original", "eer_ignorant", "eer_lazy_informed", "wer_original", "rtf"):
        assert result[key] is None or 0.0 <= result[key] <= 1.0 or key == "rtf"
    assert result["task"] == "anonymization" and result["n_utterances"] == 24
    assert result["eer_ignorant"] > result["eer_original"], "anonymization hides something"
    assert result["attacker"].startswith("CAM++ campplus_cn_en_common"), "the standard attacker"
    assert result["options"]["attackers"] == ["campplus", "campplus-cn", "resemblyzer"]
    assert list(result["attackers"]) == ["campplus", "campplus-cn", "resemblyzer"]
    for name, figures in result["attackers"].items():
        assert figures["name"] == name
        assert 0.0 <= figures["eer_ignorant"] <= 1.0 and figures["intervals"]["eer_ignorant"]
    assert result["attackers"]["campplus"]["eer_ignorant"] == result["eer_ignorant"]
    assert result["unmeasured"] == {"count": 0, "clips": []}
    anonymizer = result["anonymizer"]
    assert anonymizer["name"] == "eq-shift+formant-warp+sharpen+eq", "the policy's default"
    assert anonymizer["reequalise"] and anonymizer["steps"][1]["order"] == 24
    sharpen = anonymizer["steps"][2]
    assert (sharpen["name"], sharpen["poles_low"], sharpen["poles_high"]) == ("sharpen", 0.7, 0.8)
    scores = result["scores"]
    assert set(scores) == {"original", "ignorant", "lazy_informed", "semi_informed"}
    for attack in ("original", "ignorant", "lazy_informed"):
        assert len(scores[attack]["target"]) == result["n_target_trials"]
        assert len(scores[attack]["nontarget"]) == result["n_nontarget_trials"]
    intervals = result["intervals"]
    for key in ("eer_ignorant", "eer_lazy_informed"):
        assert 0.0 <= intervals[key][0] <= intervals[key][1] <= 1.0, key
    assert intervals["wer_rise"][0] <= intervals["wer_rise"][1]
    done = CliRunner().invoke(app, ["report", "--out", str(tmp_path / "r.html")])
    assert done.exit_code == 0, done.output
    page = (tmp_path / "r.html").read_text()
    assert "Voice anonymization" in page
    assert page.count("data:image/png;base64,") == 2, "EER bars and the attackers' DET curves"


def test_eval_anonymization_measures_the_method_the_policy_would_run_against_cam_plus(
    corpus: Path, tmp_path: Path
) -> None:
    manifest = corpus / "manifests" / "speakers.jsonl"
    run(
        "anonymization",
        "--manifest",
        str(manifest),
        "--limit",
        "12",
        "--splits",
        "1",
        "--method",
        "eq-shift+mcadams",
        "--shift-low",
        "1.1",
        "--shift-high",
        "1.2",
        "--alpha-low",
        "0.8",
        "--alpha-high",
        "0.9",
        "--colour-db",
        "10",
        "--colour-bands",
        "5",
        "--tilt-low-db",
        "-12",
        "--tilt-high-db",
        "6",
        "--no-reequalise",
        "--draws",
        "2",
        "--attacker",
        "campplus-cn",
        "--attacker",
        "resemblyzer",
    )
    result = read(tmp_path / "earmuff-eval" / "anonymization.json")
    assert result["attacker"].startswith("CAM++ campplus_cn_common")
    assert result["options"]["attacker"] == "campplus-cn"
    assert list(result["attackers"]) == ["campplus-cn", "resemblyzer"], "as asked, in order"
    assert result["attackers"]["resemblyzer"]["attacker"].startswith("resemblyzer")
    assert result["seeds"] == [0, 1] and len(result["by_seed"]) == 2
    anonymizer = result["anonymizer"]
    assert anonymizer["name"] == "eq-shift+mcadams"
    shift, mcadams = anonymizer["steps"]
    assert (shift["shift_low"], shift["shift_high"]) == (1.1, 1.2)
    assert (shift["colour_db"], shift["colour_bands"]) == (10.0, 5)
    assert (shift["tilt_low_db"], shift["tilt_high_db"]) == (-12.0, 6.0)
    assert (mcadams["alpha_low"], mcadams["alpha_high"]) == (0.8, 0.9)
    assert result["options"]["method"] == "eq-shift+mcadams"


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("--shift-low=1.3", "--shift-high=1.2"),
        ("--tilt-low-db=6", "--tilt-high-db=-6"),
        ("--warp-low=0.2", "--warp-high=0.1"),
        ("--sharpen-low=0.9", "--sharpen-high=0.8"),
        ("--sharpen-zeros=0.75", "--sharpen-low=0.7"),
    ],
)
def test_eval_anonymization_refuses_an_empty_range(corpus: Path, low: str, high: str) -> None:
    manifest = corpus / "manifests" / "speakers.jsonl"
    done = runner.invoke(app, ["anonymization", "--manifest", str(manifest), low, high])
    assert done.exit_code == 2
    assert high.split("=")[0] in done.output


def test_eval_frontier_measures_the_default_along_its_own_strengths(
    corpus: Path, tmp_path: Path
) -> None:
    manifest = corpus / "manifests" / "speakers.jsonl"
    args = ("--manifest", str(manifest), "--limit", "16", "--splits", "2")
    run("frontier", *args, "--strengths", "0.5,1")
    result = read(tmp_path / "earmuff-eval" / "frontier.json")
    assert result["options"]["strengths"] == "0.5,1"
    milder, default = result["points"]
    assert milder["label"].startswith("x0.5 eq-shift+formant-warp+sharpen (shift 1.04547-1.1095")
    assert default["label"].startswith("x1 ") and default["policy"]["shift_high"] == 1.231
    assert milder["policy"]["warp_high"] == default["policy"]["warp_high"] / 2
    for measured in (milder, default):
        assert 0.0 <= measured["eer_ignorant"] <= 1.0 and measured["wer_rise"] is not None
        assert measured["intervals"]["resampled"] == "speakers"


@pytest.mark.parametrize(
    ("strengths", "reason"),
    [
        ("0.5,abc", "'abc' is not a number"),
        ("1,,2", "an empty entry"),
        ("0", "a strength must be a positive number"),
        ("1,5", "strength 5 takes shift_high out of range"),
    ],
)
def test_eval_frontier_refuses_a_bad_strength_before_any_model_loads(
    tmp_path: Path, strengths: str, reason: str
) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": "x.wav", "duration": 1, "speaker": "a"}))
    done = runner.invoke(app, ["frontier", "--manifest", str(manifest), "--strengths", strengths])
    assert done.exit_code == 2
    assert reason in " ".join(done.output.replace("│", " ").split())
    assert not (tmp_path / "earmuff-eval").exists()


def test_eval_anonymization_refuses_an_unknown_attacker(corpus: Path) -> None:
    manifest = corpus / "manifests" / "speakers.jsonl"
    done = runner.invoke(app, ["anonymization", "--manifest", str(manifest), "--attacker", "ecapa"])
    assert done.exit_code == 2
    assert "campplus" in done.output


def test_every_policy_method_can_be_evaluated() -> None:
    from typing import get_args

    from earmuff.cli.evaluate import AnonymizationMethod
    from earmuff.config.policy import AnonymizationPolicy

    methods = get_args(AnonymizationPolicy.model_fields["method"].annotation)
    assert {m.value for m in AnonymizationMethod} == set(methods)
