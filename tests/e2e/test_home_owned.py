"""End to end: the Home tab's "My open items", the items the viewer owns and has not resolved."""

from __future__ import annotations

import json

from bot.app.build import Runtime
from sandbox.slack import SlackEmulator, SlackUserSimulator
from tests.e2e.test_jira_flow import file
from tests.e2e.test_owners_rca import LEAD, click, thread_texts
from tests.support import wait_until


def home_text(user: SlackUserSimulator, slack: SlackEmulator, who: str) -> str:
    """Open the Home tab as `who` and return what this opening published."""
    published = len(slack.calls_to("views.publish"))
    assert user.open_app_home(user_id=who).status_code == 200
    call = slack.wait_for("views.publish", count=published + 1)[-1]
    return json.dumps(call.args["view"], ensure_ascii=False)


def test_the_home_tab_lists_the_viewers_open_items(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """Items taken or assigned show under "My open items" (linked, summaries escaped) until
    they are resolved; someone who owns nothing is told how to take an item."""
    file(user, slack, severity="sev3", summary="Refunds <!channel> stuck")
    file(user, slack, severity="sev3")
    click(user, slack, "take-item", "U0BOB")
    assert wait_until(lambda: thread_texts(slack, "<@U0BOB> took HC-1"))
    user.slash_command("assign HC-2 <@U0BOB|bob>", user_id=LEAD)
    text = home_text(user, slack, "U0BOB")
    assert "*My open items*" in text and "|HC-1>" in text and "|HC-2>" in text
    assert "Refunds &lt;!channel&gt; stuck" in text and "<!channel>" not in text
    assert bot.services.owners.resolve(1, LEAD) is not None
    after = home_text(user, slack, "U0BOB")
    assert "|HC-1>" not in after and "|HC-2>" in after
    assert "You own no open items" in home_text(user, slack, "U0ALICE")
