"""The program file and settings: valid files load, every problem is reported with its place."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.config import Program, ProgramFileError, RunMode, Settings, load_program
from tests.conftest import ROOT

EXAMPLE = ROOT / "hypercare.example.yaml"


def write(tmp_path: Path, data: object) -> Path:
    """Write a program file."""
    path = tmp_path / "hypercare.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def example() -> dict[str, object]:
    """The example program as a dict, to break on purpose."""
    return yaml.safe_load(EXAMPLE.read_text())


def test_example_program_is_valid() -> None:
    """The shipped example program loads with every section."""
    program = load_program(EXAMPLE)
    assert program.severities[0].id == "sev1" and len(program.categories) == 10
    assert program.zone.key == "Europe/Berlin"


def test_every_problem_is_reported_with_its_path(tmp_path: Path) -> None:
    """Several mistakes are all reported at once, each with its place in the file."""
    data = example()
    data["severities"][1].pop("label")  # type: ignore[index]
    data["timezone"] = "Mars/Olympus"
    data["channels"] = {"feedback": "general"}
    data["colour"] = "blue"
    with pytest.raises(ProgramFileError) as caught:
        load_program(write(tmp_path, data))
    problems = "\n".join(caught.value.problems)
    assert "severities[1].label: Field required" in problems
    assert "timezone: unknown time zone 'Mars/Olympus'" in problems
    assert "channels.feedback:" in problems
    assert "colour: Extra inputs are not permitted" in problems
    assert len(caught.value.problems) == 4


def test_duplicate_ids_and_inverted_window_are_errors(tmp_path: Path) -> None:
    """Two categories with one id, or an end before the go-live, are refused."""
    data = example()
    data["categories"].append({"id": "bug", "label": "Again"})  # type: ignore[attr-defined]
    with pytest.raises(ProgramFileError, match="id 'bug' is used twice"):
        load_program(write(tmp_path, data))
    data = example()
    data["planned_end"] = "2026-01-01"
    with pytest.raises(ProgramFileError, match="planned_end is before go_live"):
        load_program(write(tmp_path, data))


def test_duplicate_healing_keys_default_and_are_checked(tmp_path: Path) -> None:
    """jira.duplicate_transition and reconcile_window default sensibly and refuse bad values."""
    jira = load_program(EXAMPLE).jira
    assert jira is not None and jira.duplicate_transition == "Done"
    assert jira.reconcile_window == 24 * 3600
    data = example()
    data["jira"].update(duplicate_transition="Close Issue", reconcile_window="2d")  # type: ignore[attr-defined]
    jira = load_program(write(tmp_path, data)).jira
    assert jira is not None and jira.duplicate_transition == "Close Issue"
    assert jira.reconcile_window == 2 * 86400
    data["jira"].update(duplicate_transition="", reconcile_window="10m")  # type: ignore[attr-defined]
    with pytest.raises(ProgramFileError) as failure:
        load_program(write(tmp_path, data))
    assert "jira.duplicate_transition" in str(failure.value)
    assert "jira.reconcile_window" in str(failure.value) and "between 1h and 30d" in str(
        failure.value
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "file not found"), ("a: [unclosed", "not valid YAML"), ("- a list", "YAML mapping")],
)
def test_unreadable_files_are_reported(tmp_path: Path, content: str | None, message: str) -> None:
    """A missing file, broken YAML or a non-mapping give one clear problem."""
    path = tmp_path / "hypercare.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ProgramFileError, match=message):
        load_program(path)


def test_check_config_exits_nonzero_listing_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hypercare-bot check-config` prints each problem and exits 1; a good file exits 0."""
    data = example()
    data["severities"][0]["description"] = "x" * 80  # type: ignore[index]
    monkeypatch.setenv("HYPERCARE_CONFIG", str(write(tmp_path, data)))
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "JIRA_URL": "http://127.0.0.1:1",  # nobody listens: the mapping check only warns
        "JIRA_PAT": "p",
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config"]) == 1
    err = capsys.readouterr().err
    assert "severities[0].description" in err and "1 problem(s) found" in err
    monkeypatch.setenv("HYPERCARE_CONFIG", str(EXAMPLE))
    assert main(["check-config"]) == 0  # Jira unreachable on loopback: only a warning
    assert "is valid" in capsys.readouterr().out


def test_check_config_takes_the_program_file_as_an_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hypercare-bot check-config FILE`, as most tools take it: the path beats the variable."""
    data = example()
    data["severities"][0]["description"] = "x" * 80  # type: ignore[index]
    broken = write(tmp_path, data)
    monkeypatch.setenv("HYPERCARE_CONFIG", str(EXAMPLE))  # valid: the argument must win
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "JIRA_URL": "http://127.0.0.1:1",
        "JIRA_PAT": "p",
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config", str(broken)]) == 1
    assert "severities[0].description" in capsys.readouterr().err
    assert main(["check-config", str(EXAMPLE)]) == 0
    assert f"{EXAMPLE}: program" in capsys.readouterr().out
    assert main(["check-config", str(tmp_path / "missing.yaml")]) == 1
    assert "missing.yaml" in capsys.readouterr().err


def test_serve_refuses_an_invalid_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With credentials set, `serve` will not start on a broken program file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYPERCARE_CONFIG", str(write(tmp_path, {"name": "x"})))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert "go_live: Field required" in err and "cannot start" in err


def test_http_mode_needs_a_signing_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without SLACK_APP_TOKEN the bot is in HTTP mode and says the signing secret is missing."""
    monkeypatch.chdir(tmp_path)
    settings = Settings(slack_bot_token="xoxb-1", _env_file=None)  # type: ignore[arg-type,call-arg]
    assert settings.mode is RunMode.HTTP
    assert "SLACK_SIGNING_SECRET" in settings.problems()[0]
    socket = Settings(slack_bot_token="xoxb-1", slack_app_token="xapp-1", _env_file=None)  # type: ignore[arg-type,call-arg]
    assert socket.mode is RunMode.SOCKET and socket.problems() == []
    bare = Settings(_env_file=None)  # type: ignore[call-arg]
    assert bare.mode is RunMode.HTTP and "SLACK_BOT_TOKEN" in bare.problems()[0]


def test_secrets_never_show_in_repr() -> None:
    """Tokens are SecretStr: printing the settings does not reveal them."""
    settings = Settings(
        slack_bot_token="xoxb-very-secret",
        slack_signing_secret="sign-me",  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )
    assert "xoxb-very-secret" not in repr(settings) and "sign-me" not in str(settings)


def test_the_commented_metrics_example_is_a_valid_program() -> None:
    """Uncommenting the example's `metrics:` section gives a valid program with its four rules."""
    lines, inside = [], False
    for line in EXAMPLE.read_text().splitlines():
        inside = inside or line.startswith("# metrics:")
        lines.append(line[2:] if inside and line.startswith("# ") else line)
    program = Program.model_validate(yaml.safe_load("\n".join(lines)))
    assert program.metrics is not None
    assert [r.id for r in program.metrics.rules] == [
        "gateway-5xx",
        "gateway-latency",
        "traffic-drop",
        "checkout-p99",
    ]


def test_metrics_rules_must_name_known_sources_and_severities(tmp_path: Path) -> None:
    """A rule on an unknown source or severity is refused with its place in the file."""
    data = example()
    data["metrics"] = {
        "allowed_hosts": ["127.0.0.1"],
        "sources": [{"id": "gw", "url": "http://127.0.0.1:1/metrics", "preset": "kong"}],
        "rules": [
            {
                "id": "r",
                "source": "nope",
                "kind": "error_rate",
                "threshold": 0.1,
                "severity": "sev1",
            }
        ],
    }
    with pytest.raises(ProgramFileError, match="unknown source 'nope'"):
        load_program(write(tmp_path, data))
    data["metrics"]["rules"][0].update(source="gw", severity="sev9")
    with pytest.raises(ProgramFileError, match="unknown severity 'sev9'"):
        load_program(write(tmp_path, data))
    data["metrics"]["sources"][0].update(timeout=60, interval=30)
    with pytest.raises(ProgramFileError, match="timeout must be shorter than interval"):
        load_program(write(tmp_path, data))
