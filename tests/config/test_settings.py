"""Settings from the environment, and the policy file a privacy officer signs off."""

from __future__ import annotations

from pathlib import Path

import pytest

from earmuff.config import IngestLimits, Policy, RetentionPolicy, Settings, load_policy
from earmuff.config.policy import PolicyError
from earmuff.config.settings import DEFAULT_WORKSPACE, SettingsError

# --- Settings.for_workspace ----------------------------------------------------------------


def test_with_an_empty_environment_everything_lives_in_the_workspace(tmp_path: Path) -> None:
    settings = Settings.for_workspace(tmp_path, env={})
    assert settings.workspace == tmp_path
    assert settings.database_url == f"sqlite:///{tmp_path / 'earmuff.db'}"
    assert settings.blob_dir == tmp_path / "blobs"
    assert settings.master_key_file == tmp_path / "master.key"
    assert settings.master_key is None
    assert settings.limits == IngestLimits()
    assert settings.policy == Policy()


def test_the_default_limits_are_ten_megabytes_and_a_minute(tmp_path: Path) -> None:
    limits = Settings.for_workspace(tmp_path, env={}).limits
    assert limits.max_audio_bytes == 10 * 1024 * 1024
    assert limits.max_duration_s == 60.0
    assert limits.max_body_bytes == limits.max_audio_bytes + 64 * 1024
    assert (limits.min_sample_rate, limits.max_sample_rate) == (8_000, 48_000)


def test_the_workspace_comes_from_the_argument_then_the_environment_then_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    from_env = {"EARMUFF_WORKSPACE": str(tmp_path / "from-env")}
    assert Settings.for_workspace(tmp_path / "given", env=from_env).workspace == (
        tmp_path / "given"
    )
    assert Settings.for_workspace(env=from_env).workspace == tmp_path / "from-env"
    assert Settings.for_workspace(env={}).workspace == tmp_path / DEFAULT_WORKSPACE


def test_a_relative_workspace_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.for_workspace("data", env={"EARMUFF_BLOB_DIR": "elsewhere/blobs"})
    assert settings.workspace == tmp_path / "data"
    assert settings.workspace.is_absolute()
    assert settings.blob_dir == tmp_path / "elsewhere" / "blobs"
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'earmuff.db'}"


def test_the_process_environment_is_read_when_no_mapping_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EARMUFF_DATABASE_URL", "postgresql+psycopg://db.internal/earmuff")
    monkeypatch.setenv("EARMUFF_MAX_DURATION_S", "30")
    settings = Settings.for_workspace(tmp_path)
    assert settings.database_url == "postgresql+psycopg://db.internal/earmuff"
    assert settings.limits.max_duration_s == 30.0


def test_every_location_and_the_master_key_can_be_set_from_the_environment(
    tmp_path: Path,
) -> None:
    env = {
        "EARMUFF_DATABASE_URL": "postgresql+psycopg://earmuff@db:5432/earmuff",
        "EARMUFF_BLOB_DIR": str(tmp_path / "blobstore"),
        "EARMUFF_MASTER_KEY_FILE": str(tmp_path / "secrets" / "kek"),
        "EARMUFF_MASTER_KEY": "ab" * 32,
    }
    settings = Settings.for_workspace(tmp_path / "ws", env=env)
    assert settings.database_url == env["EARMUFF_DATABASE_URL"]
    assert settings.blob_dir == tmp_path / "blobstore"
    assert settings.master_key_file == tmp_path / "secrets" / "kek"
    assert settings.master_key == "ab" * 32


def test_the_master_key_never_appears_in_the_settings_repr(tmp_path: Path) -> None:
    settings = Settings.for_workspace(tmp_path, env={"EARMUFF_MASTER_KEY": "cd" * 32})
    assert "cd" * 32 not in repr(settings)


def test_empty_variables_count_as_unset(tmp_path: Path) -> None:
    env = dict.fromkeys(
        [
            "EARMUFF_DATABASE_URL",
            "EARMUFF_BLOB_DIR",
            "EARMUFF_MASTER_KEY_FILE",
            "EARMUFF_MASTER_KEY",
            "EARMUFF_MAX_UPLOAD_BYTES",
            "EARMUFF_MAX_DURATION_S",
            "EARMUFF_POLICY_FILE",
        ],
        "",
    )
    assert Settings.for_workspace(tmp_path, env=env) == Settings.for_workspace(tmp_path, env={})


def test_upload_limits_come_from_the_environment(tmp_path: Path) -> None:
    env = {"EARMUFF_MAX_UPLOAD_BYTES": "2000000", "EARMUFF_MAX_DURATION_S": "12.5"}
    limits = Settings.for_workspace(tmp_path, env=env).limits
    assert limits.max_audio_bytes == 2_000_000
    assert limits.max_duration_s == 12.5
    assert limits.max_body_bytes == 2_000_000 + 64 * 1024


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EARMUFF_MAX_UPLOAD_BYTES", "ten megabytes"),
        ("EARMUFF_MAX_UPLOAD_BYTES", "1.5"),
        ("EARMUFF_MAX_UPLOAD_BYTES", "1e6"),
        ("EARMUFF_MAX_UPLOAD_BYTES", "0"),
        ("EARMUFF_MAX_UPLOAD_BYTES", "-100"),
        ("EARMUFF_MAX_DURATION_S", "a minute"),
        ("EARMUFF_MAX_DURATION_S", "0"),
        ("EARMUFF_MAX_DURATION_S", "-1"),
        ("EARMUFF_MAX_DURATION_S", "nan"),
        ("EARMUFF_MAX_DURATION_S", "-inf"),
    ],
)
def test_a_bad_limit_raises_settings_error_naming_the_variable(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(SettingsError, match=name) as caught:
        Settings.for_workspace(tmp_path, env={name: value})
    assert isinstance(caught.value, ValueError)


def test_an_infinite_duration_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="EARMUFF_MAX_DURATION_S"):
        Settings.for_workspace(tmp_path, env={"EARMUFF_MAX_DURATION_S": "inf"})


def test_without_a_broker_the_pipeline_runs_in_process(tmp_path: Path) -> None:
    settings = Settings.for_workspace(tmp_path, env={"EARMUFF_BROKER_URL": ""})
    assert settings.broker_url is None
    assert settings.pipeline_queue == "earmuff-pipeline"
    assert settings.broker_visibility_timeout_s == 3600.0


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "amqp://guest:guest@127.0.0.1:5672//", "rediss://r:6380"]
)
def test_a_redis_or_rabbitmq_url_chooses_the_distributed_engine(tmp_path: Path, url: str) -> None:
    env = {
        "EARMUFF_BROKER_URL": url,
        "EARMUFF_PIPELINE_QUEUE": "asr.eu-west:1",
        "EARMUFF_BROKER_VISIBILITY_TIMEOUT_S": "600",
    }
    settings = Settings.for_workspace(tmp_path, env=env)
    assert settings.broker_url == url
    assert settings.pipeline_queue == "asr.eu-west:1"
    assert settings.broker_visibility_timeout_s == 600.0


@pytest.mark.parametrize(
    "url",
    [
        "ftp://u:hunter2@broker:21",
        "sqs://hunter2@",
        "redis://:hunter2@",
        "hunter2@127.0.0.1:6379",
        "amqp://u:hunter2@[::1",
    ],
)
def test_a_broker_url_earmuff_cannot_use_is_refused_without_echoing_its_password(
    tmp_path: Path, url: str
) -> None:
    with pytest.raises(SettingsError, match="EARMUFF_BROKER_URL must be") as caught:
        Settings.for_workspace(tmp_path, env={"EARMUFF_BROKER_URL": url})
    assert "hunter2" not in str(caught.value)


def test_the_broker_password_never_appears_in_the_settings_repr(tmp_path: Path) -> None:
    env = {"EARMUFF_BROKER_URL": "amqp://earmuff:s3cret@mq:5672//"}
    assert "s3cret" not in repr(Settings.for_workspace(tmp_path, env=env))


@pytest.mark.parametrize("queue", ["-leading-dash", "with space", "x" * 101, "queue/slash"])
def test_a_queue_name_brokers_may_mangle_is_refused(tmp_path: Path, queue: str) -> None:
    with pytest.raises(SettingsError, match="EARMUFF_PIPELINE_QUEUE"):
        Settings.for_workspace(tmp_path, env={"EARMUFF_PIPELINE_QUEUE": queue})


def test_the_policy_file_in_the_workspace_is_read_by_default(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text('version = "ws-2"\n', encoding="utf-8")
    assert Settings.for_workspace(tmp_path, env={}).policy.version == "ws-2"


def test_earmuff_policy_file_wins_over_the_workspace_policy(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text('version = "ws-2"\n', encoding="utf-8")
    chosen = tmp_path / "chosen.toml"
    chosen.write_text('version = "chosen-7"\n', encoding="utf-8")
    settings = Settings.for_workspace(tmp_path, env={"EARMUFF_POLICY_FILE": str(chosen)})
    assert settings.policy.version == "chosen-7"


def test_a_missing_earmuff_policy_file_is_an_error_not_the_default_policy(
    tmp_path: Path,
) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        Settings.for_workspace(tmp_path, env={"EARMUFF_POLICY_FILE": str(tmp_path / "no.toml")})


# --- load_policy ---------------------------------------------------------------------------


def write_policy(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_a_complete_policy_file_is_read(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        """
        version = "2026-11-dpo-signed"

        [retention]
        raw_recordings_days = 92
        review_items_days = 30
        false_wake_tombstones_days = 7
        """,
    )
    assert load_policy(path) == Policy(
        version="2026-11-dpo-signed",
        retention=RetentionPolicy(
            raw_recordings_days=92, review_items_days=30, false_wake_tombstones_days=7
        ),
    )


def test_rules_a_policy_file_leaves_out_keep_their_defaults(tmp_path: Path) -> None:
    policy = load_policy(write_policy(tmp_path, "[retention]\nreview_items_days = 10\n"))
    assert policy.version == Policy().version
    assert policy.retention == RetentionPolicy(review_items_days=10)
    assert load_policy(write_policy(tmp_path, "")) == Policy()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('version = "1"\nretenton_days = 30\n', "unknown policy key retenton_days"),
        (
            "[retention]\nraw_recording_days = 30\n",
            "unknown policy key retention.raw_recording_days",
        ),
        ("[anonymization]\nstrength = 3\n", r"unknown policy key anonymization\.strength"),
    ],
    ids=["misspelt top-level key", "misspelt retention key", "unknown anonymization key"],
)
def test_an_unknown_key_is_refused_so_a_typo_cannot_weaken_a_rule(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy(write_policy(tmp_path, body))


@pytest.mark.parametrize(
    "value", ["0", "-30", "30.5", "true", '"30"', "[30]"], ids=lambda v: f"days = {v}"
)
def test_retention_must_be_a_positive_whole_number_of_days(tmp_path: Path, value: str) -> None:
    with pytest.raises(PolicyError, match=r"policy retention\.raw_recordings_days: "):
        load_policy(write_policy(tmp_path, f"[retention]\nraw_recordings_days = {value}\n"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('retention = "forever"\n', "policy retention: "),
        ('version = ""\n', "policy version: String should have at least 1 character"),
        ("version = 3\n", "policy version: Input should be a valid string"),
        ("version = \n", "cannot read policy file"),
        ("[retention\n", "cannot read policy file"),
    ],
    ids=["retention not a table", "empty version", "numeric version", "no value", "bad TOML"],
)
def test_a_malformed_policy_file_is_refused(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy(write_policy(tmp_path, body))


def test_a_policy_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b'version = "\xff\xfe"\n')
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(path)


@pytest.mark.parametrize("value", ["-1", "900", "nan", '"low"'])
def test_the_anonymization_pitch_pivot_is_a_pitch_or_zero(tmp_path: Path, value: str) -> None:
    with pytest.raises(PolicyError, match=r"policy anonymization\.pivot_hz: "):
        load_policy(write_policy(tmp_path, f"[anonymization]\npivot_hz = {value}\n"))
    read = load_policy(write_policy(tmp_path, "[anonymization]\npivot_hz = 0\n"))
    assert read.anonymization.pivot_hz == 0.0


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("alpha_low = 0.9", "alpha_high = 0.6"),
        ("shift_low = 1.3", "shift_high = 1.2"),
        ("tilt_low_db = 6", "tilt_high_db = -6"),
        ("warp_low = 0.2", "warp_high = 0.1"),
        ("sharpen_low = 0.9", "sharpen_high = 0.8"),
        ("sharpen_zeros = 0.75", "sharpen_low = 0.7"),
    ],
    ids=["alpha", "shift", "tilt", "warp", "sharpen", "sharpen-zeros"],
)
def test_an_anonymization_range_that_ends_below_its_start_is_refused_when_read(
    tmp_path: Path, low: str, high: str
) -> None:
    name = low.split(" = ")[0]
    with pytest.raises(PolicyError, match=rf"policy anonymization: .*{name} must not exceed"):
        load_policy(write_policy(tmp_path, f"[anonymization]\n{low}\n{high}\n"))


@pytest.mark.parametrize("setting", ["sharpen_low", "sharpen_high", "sharpen_zeros"])
@pytest.mark.parametrize("value", ["0", "1", "1.2", "nan"])
def test_the_sharpening_factors_lie_strictly_between_zero_and_one(
    tmp_path: Path, setting: str, value: str
) -> None:
    with pytest.raises(PolicyError, match=rf"policy anonymization\.{setting}: "):
        load_policy(write_policy(tmp_path, f"[anonymization]\n{setting} = {value}\n"))
