"""The pipeline as built runs its stages in the one declared order."""

from __future__ import annotations

from earmuff.config import Policy
from earmuff.pipeline.build import Models, stages
from earmuff.pipeline.stage import STAGE_ORDER


def test_the_built_stages_run_in_the_declared_order() -> None:
    """The owner's history lists stages by ``STAGE_ORDER``: a stage added to the
    pipeline but not there would be left off every owner's page."""
    assert tuple(stage.name for stage in stages(Models(Policy()))) == STAGE_ORDER


def test_building_the_stages_loads_no_model() -> None:
    """Most recordings stop at consent or sampling, so nothing heavy loads up front."""
    models = Models(Policy())
    stages(models)
    assert not {"transcriber", "wake_verifier", "pii_detector"} & set(vars(models))


def test_the_pipeline_hears_with_the_policy_s_voice_activity_setting() -> None:
    """The transcript decides what is bleeped, so the policy's ``[asr] vad`` must reach
    the recogniser that makes it (the wake check hears its three seconds whole)."""
    cutting = Models(Policy.model_validate({"asr": {"model": "tiny.en"}}))
    whole = Models(Policy.model_validate({"asr": {"model": "tiny.en", "vad": False}}))
    assert (cutting.transcriber.vad, whole.transcriber.vad) == (True, False)
