"""End to end through the real command line: serve, demo and migrate as a user runs them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from sandbox.slack import SlackEmulator, SlackUserSimulator
from tests.conftest import BOT_TOKEN, ROOT, SIGNING_SECRET
from tests.support import wait_until


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(port: int, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Wait until /healthz answers, failing early if the process died."""

    def healthy() -> bool:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(healthy, timeout=timeout)


def quiet_program_file(folder: Path) -> Path:
    """The example program file without its digest channel (a bot started after a report's
    slot posts it late, and rendering the weekly charts would race the test's requests) and
    without Jira (serve would want its credentials)."""
    raw = yaml.safe_load((ROOT / "hypercare.example.yaml").read_text(encoding="utf-8"))
    raw["channels"].pop("digest", None)
    raw.pop("jira", None)  # serve refuses a `jira:` section without Jira credentials
    for severity in raw["severities"]:
        severity.pop("auto_ticket", None)
    path = folder / "hypercare.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def serve_env(
    slack: SlackEmulator,
    database_url: str,
    port: int,
    config: Path = ROOT / "hypercare.example.yaml",
    **extra: str,
) -> dict[str, str]:
    """The environment of `hypercare-bot serve` in HTTP mode against the Slack emulator."""
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.base_url,
        "DATABASE_URL": database_url,
        "HYPERCARE_CONFIG": str(config),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **extra,
    }
    env.pop("SLACK_APP_TOKEN", None)
    return env


def test_serve_answers_slack_then_stops_cleanly_on_sigterm(
    slack: SlackEmulator, database_url: str, tmp_path: Path
) -> None:
    """`hypercare-bot serve` migrates, answers a signed slash command, and exits 0 on SIGTERM."""
    port = free_port()
    env = serve_env(slack, database_url, port, quiet_program_file(tmp_path), LOG_LEVEL="DEBUG")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_healthy(port, proc)
        user = SlackUserSimulator(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, slack)
        assert user.slash_command("Search is slow").status_code == 200
        slack.wait_for("views.open")
        assert user.send_raw("command=%2Fhypercare", sign=False).status_code == 401
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output
    assert "listening on 127.0.0.1" in output
    # Even at DEBUG, no token or signing secret reaches the log.
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output


def test_demo_plays_the_scripted_morning(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`hypercare-bot demo` needs no credentials and shows receipts, errors and thread replies,
    a +1 on a suggested report, escalation, a burst's grouped page DM, the stand-up digest, exit
    readiness and a Home tab, and at the end a root cause, a lesson and the closing report,
    posted and written."""
    temp = tmp_path_factory.mktemp("demo-temp")  # where the demo keeps its closing report
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env["TMPDIR"] = str(temp)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Please describe what happened." in out  # the validation error, inline
    assert "HC-1 · CHECKOUT RETURNS 504" in out and "HC-2 · REFUNDS FAIL" in out
    assert "(thread reply)" in out and "2 reports stored, 2 Jira tickets" in out
    assert "HYP-1" in out and "is now *In Progress* by Dana Dev" in out  # Jira → Slack
    assert "(message updated in place)" in out
    # A later reporter's summary reads like HC-1: the form suggests it and +1 joins it.
    assert "*Already reported?*" in out and "[Same problem: +1]" in out
    assert "@bob has the same problem: HC-1 now has *2 reporters*" in out
    assert "┌─ Jira HYP-1 (new comment)\n  │ *HC\\-1 was reported again*" in out
    assert "CHECKOUT-5XX FIRING" in out and "Silenced by @lena" in out  # the gateway part
    assert "Resolved after" in out
    # The escalation chapter: primary, then secondary paged; sam acknowledges; the leads are not.
    assert "*Primary:* @priya" in out and "*Secondary:* @sam" in out  # /hypercare oncall
    assert "┌─ DM to priya" in out and "Paging @priya (primary on-call)" in out
    assert "┌─ DM to sam" in out and "Paging @sam (secondary on-call)" in out
    assert "DM to sam (message updated in place)" in out and "Acknowledged by @sam" in out
    assert "@sam acknowledged HC-3" in out
    assert "Page DMs sent: priya 1, sam 1, lena (lead) 0; no mention of the leads" in out
    # A bad deploy's four sev1 reports: one page DM to priya listing them, then all taken.
    burst = out.split("16:50  a bad deploy", 1)[1].split("\n17:00", 1)[0]
    assert "*4 of the 4 items paged to you need someone.*" in burst
    assert all(f"HC-{n} · " in burst for n in (4, 5, 6, 7)) and "[Acknowledge all]" in burst
    assert "All 4 items paged to you are taken." in burst
    assert burst.count("acknowledged by @priya") == 4
    assert "Page DMs sent for the 4 reports: priya 1;" in burst
    # The last chapter: the scheduler posts the day's digest, then status and the Home tab.
    digest = out.split("┌─ #hypercare-digest\n", 1)[1].split("└─", 1)[0]
    assert "STAND-UP DIGEST · PAYMENTS PLATFORM GO-LIVE" in digest
    assert "*New feedback* (7) — sev1 6 · sev2 1" in digest and "*Open items* (7)" in digest
    assert all(f"HC-{n}" in digest for n in range(1, 8)) and "posted late" not in digest
    assert "*Alerts fired* (1)" in digest and "*checkout-5xx*" in digest
    assert "HC-3* — acknowledged by @sam" in digest
    assert "┌─ only visible to lena (lead)\n  │ PAYMENTS PLATFORM GO-LIVE: EXIT READINESS" in out
    assert "Not ready to exit hypercare yet." in out and "*No open sev1 for 7 days*" in out
    assert "┌─ Home tab of alice" in out and "*Your reports* (2)" in out
    # The closing chapter: HC-1 resolved and explained, a lesson, the closing report.
    assert "@lena (lead) resolved HC-1" in out and "[Record root cause]" in out
    assert "@bob recorded the root cause of HC-1: *Third party*" in out
    assert "Recorded *L-1* (to improve)" in out
    assert "Building the hand-over report…" in out and "📎 exit-report.md" in out
    posted = out.split("┌─ #hypercare-digest\n", 2)[2].split("└─", 1)[0]
    assert "*Hypercare closing report* · Payments platform go-live" in posted
    assert "📎 feedback-flow-2026-11-16.png" in posted
    written = Path(out.split("Written: ", 1)[1].split(" and ", 1)[0])
    assert written.parent.parent == temp and written.name == "exit-report.md"
    assert "  │ # Hypercare closing report: Payments platform go\\-live" in out
    assert written.read_text(encoding="utf-8").startswith("# Hypercare closing report")
    assert len(list(written.parent.glob("*.png"))) == 4
    assert [p.name for p in temp.iterdir()] == [written.parent.name]  # its database is gone
    assert not list(tmp_path.iterdir())  # the demo leaves nothing behind where it ran


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `hypercare-bot <args>` with no Slack or Jira variables but `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "JIRA_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**clean, "DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}", **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_without_slack_credentials_fails_in_one_line_pointing_at_the_demo(
    tmp_path: Path,
) -> None:
    """A deploy with a missing secret must not look healthy: `hypercare-bot` (serve) exits 1
    with one line naming the variables and the demo; check-config says the same."""
    config = str(quiet_program_file(tmp_path))
    result = run_cli(tmp_path, HYPERCARE_CONFIG=config)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "SLACK_BOT_TOKEN" in line and "SLACK_SIGNING_SECRET" in line
    assert "hypercare-bot demo" in line and "Hypercare Bot demo" not in result.stdout
    socket = run_cli(tmp_path, "serve", HYPERCARE_CONFIG=config, SLACK_APP_TOKEN="xapp-1")
    [line] = socket.stderr.splitlines()
    assert socket.returncode == 1 and "SLACK_BOT_TOKEN not set" in line
    assert "SIGNING_SECRET" not in line  # Socket Mode needs none
    check = run_cli(tmp_path, "check-config", HYPERCARE_CONFIG=config)
    assert check.returncode == 1 and "SLACK_BOT_TOKEN" in check.stderr
    assert not (tmp_path / "h.db").exists()  # nothing was started


def test_serve_with_a_jira_section_but_no_jira_credentials_fails_naming_them(
    tmp_path: Path,
) -> None:
    """The example program opens Jira tickets: without JIRA_* set, serve refuses to start."""
    slack = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    example = str(ROOT / "hypercare.example.yaml")
    result = run_cli(tmp_path, "serve", HYPERCARE_CONFIG=example, **slack)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "JIRA_URL" in line and "JIRA_API_TOKEN" in line and "`jira:`" in line
    token_only = run_cli(
        tmp_path, "check-config", HYPERCARE_CONFIG=example, JIRA_URL="https://x.invalid", **slack
    )
    assert token_only.returncode == 1 and "JIRA_URL" not in token_only.stderr.split(" not set")[0]
    assert "JIRA_EMAIL and JIRA_API_TOKEN (or JIRA_PAT) not set" in token_only.stderr
