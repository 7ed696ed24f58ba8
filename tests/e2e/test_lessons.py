"""End to end: the lessons-learned register (`/hypercare lesson`, *Add a lesson* under a
post-mortem, `/hypercare lessons`) and the weekly review's lessons and knowledge base."""

from __future__ import annotations

import json
from typing import Any

from bot.app.build import Runtime
from bot.domain import LessonDraft, LessonKind
from bot.rca.service import RootCauseForm
from bot.slack.blocks.weekly import weekly_message
from sandbox.slack import SlackEmulator, SlackUserSimulator
from tests.e2e.test_jira_flow import file
from tests.e2e.test_owners_rca import LEAD, ROOT_CAUSE, root_cause_modal
from tests.support import wait_until


def lesson_modal(user: SlackUserSimulator, slack: SlackEmulator, text: str) -> dict[str, Any]:
    """Run `/hypercare <text>` and return the lesson form Slack was asked to open."""
    opened = len([c for c in slack.calls_to("views.open") if c.response.get("ok")])
    assert user.slash_command(text).status_code == 200
    return dict(slack.wait_for("views.open", count=opened + 1)[-1].response["view"])


def initial(view: dict[str, Any], block_id: str) -> Any:
    """The initial value of a form input."""
    block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
    return block["element"].get("initial_value")


def test_a_lesson_by_command_opens_the_form_prefilled_and_is_recorded(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """`/hypercare lesson <text>` opens the form with the text and the ids it names; the
    submitted lesson is stored with its kind, items and author, and the form says so."""
    file(user, slack, severity="sev3")
    # Slack sends command text escaped: &lt; &gt; &amp; stand for what the person typed.
    typed = "lesson Expiry alerts on &lt;b&gt;every&lt;/b&gt; cert &amp; key, see hc-1"
    view = lesson_modal(user, slack, typed)
    assert view["callback_id"] == "hypercare-lesson-modal"
    assert initial(view, "lesson-text") == "Expiry alerts on <b>every</b> cert & key, see hc-1"
    assert initial(view, "lesson-items") == "HC-1"
    values = {
        "lesson-text": initial(view, "lesson-text"),
        "lesson-kind": "to_improve",
        "lesson-items": "HC-1",
    }
    answer = user.submit_view(view, values, user_id="U0BOB").json()
    assert answer["response_action"] == "update"
    assert "Recorded *L-1* (to improve)" in json.dumps(answer["view"])
    [lesson], total = bot.services.lessons.latest()
    assert total == 1 and lesson.kind is LessonKind.TO_IMPROVE and lesson.author_id == "U0BOB"
    assert [i.short_id for i in lesson.items] == ["HC-1"]
    listed = user.slash_command("lessons").json()
    shown = json.dumps(listed["blocks"], ensure_ascii=False)
    assert listed["response_type"] == "ephemeral" and "*To improve*" in shown
    assert "&lt;b&gt;every&lt;/b&gt; cert &amp; key" in shown and "<b>" not in shown
    assert "<@U0BOB>" in shown and "|HC-1>" in shown


def test_add_a_lesson_under_a_postmortem_links_the_item(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """The post-mortem draft in the thread is followed by *Add a lesson*; it opens the same
    form with the item linked, the lesson is stored against it, and later drafts list it."""
    file(user, slack)
    user.slash_command("assign HC-1 <@U0BOB|bob>", user_id=LEAD)
    assert bot.services.owners.resolve(1, LEAD) is not None
    view = root_cause_modal(user, slack, "U0BOB")
    assert user.submit_view(view, ROOT_CAUSE, user_id="U0BOB").status_code == 200
    assert "Drafting" in user.slash_command("postmortem HC-1").json()["text"]
    offer = wait_until(
        lambda: [
            c
            for c in slack.calls_to("chat.postMessage")
            if "add-lesson" in json.dumps(c.args.get("blocks") or [])
        ]
    )[0]
    assert offer.args.get("thread_ts") and "What did HC-1 teach us?" in offer.args["text"]
    opened = len([c for c in slack.calls_to("views.open") if c.response.get("ok")])
    user.click_button(
        action_id="add-lesson",
        value="1",
        message_ts=offer.response["ts"],
        channel_id=offer.args["channel"],
        user_id="U0CAROL",
    )
    form = slack.wait_for("views.open", count=opened + 1)[-1].response["view"]
    assert initial(form, "lesson-items") == "HC-1" and initial(form, "lesson-text") is None
    values = {
        "lesson-text": "The acquirer's status page told us before our alerts did",
        "lesson-kind": "unexpected",
        "lesson-items": initial(form, "lesson-items"),
    }
    assert user.submit_view(form, values, user_id="U0CAROL").json()["response_action"] == "update"
    [lesson] = bot.services.lessons.of_item(1)
    assert lesson.kind is LessonKind.UNEXPECTED and lesson.author_id == "U0CAROL"
    user.slash_command("postmortem HC-1", user_id="U0BOB")  # a second draft now tells it
    channel = offer.args["channel"]
    drafts = wait_until(lambda: len(slack.files(channel)) == 2 and slack.files(channel))
    text = drafts[-1]["content"].decode()
    assert "- What was unexpected\n  - The acquirer's status page told us" in text
    assert "(L-1, @U0CAROL)" in text and "- What went well:" in text


def test_the_list_groups_the_latest_lessons_by_kind_and_says_how_many_more(
    bot: Runtime, user: SlackUserSimulator
) -> None:
    """`/hypercare lessons` answers privately with the latest 20 under their kinds, then
    "…and N more"; with none it says how to add one."""
    empty = user.slash_command("lessons").json()
    assert "No lessons recorded yet" in empty["text"]
    kinds = list(LessonKind)
    for n in range(23):
        kind = kinds[n % len(kinds)]
        bot.services.lessons.record(LessonDraft(kind, f"Lesson number {n}", "U0ALICE"))
    listed = user.slash_command("lessons").json()
    shown = json.dumps(listed["blocks"], ensure_ascii=False)
    assert listed["text"] == "Lessons learned: the latest 20 of 23"
    for heading in ("*Went well*", "*To improve*", "*Unexpected*", "*Architecture insight*"):
        assert heading in shown
    assert "*L-23* Lesson number 22" in shown and "*L-3* " not in shown
    assert "…and 3 more." in shown


def test_bad_lesson_input_gets_a_clear_answer(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """Over-long command text is refused privately (no form); `lesson` alone opens an empty
    form; an empty text, a missing kind and unknown or malformed ids go back on their fields."""
    long = user.slash_command("lesson " + "x" * 1001).json()
    assert long["response_type"] == "ephemeral" and "at most 1,000 characters" in long["text"]
    assert slack.calls_to("views.open") == []
    view = lesson_modal(user, slack, "lesson")
    assert initial(view, "lesson-text") is None and initial(view, "lesson-items") is None
    errors = user.submit_view(view, {"lesson-text": "   ", "lesson-items": "HC-9"}).json()
    assert errors["response_action"] == "errors"
    assert errors["errors"] == {
        "lesson-text": "Please write the lesson.",
        "lesson-kind": "Please choose what kind of lesson it is.",
        "lesson-items": "I know no item HC-9.",
    }
    values = {"lesson-text": "Fine", "lesson-kind": "went_well", "lesson-items": "HC-1, oops"}
    malformed = user.submit_view(view, values).json()
    assert "“HC-1,” is not" not in json.dumps(malformed)
    assert malformed["errors"]["lesson-items"].startswith("“oops” is not an item id")
    assert bot.services.lessons.latest() == ([], 0)


def test_the_weekly_review_shows_lessons_this_week_and_the_most_frequent_root_causes(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """The review lists the week's lessons by kind, and the root-cause categories of resolved
    items over the hypercare window, most frequent first, with their latest items and the
    workaround of a known issue."""
    for _ in range(3):
        file(user, slack, severity="sev3")
    known = user.slash_command("known HC-2 Retry the payment &lt;once&gt;", user_id=LEAD).json()
    assert "HC-2" in known["text"]
    causes = {1: "third_party", 2: "third_party", 3: "configuration"}
    for feedback_id, category in causes.items():
        assert bot.services.owners.resolve(feedback_id, LEAD) is not None
        form = RootCauseForm("Payments failed", ("The certificate expired",), category, "R", "P")
        outcome, _ = bot.services.rca.record(feedback_id, form, LEAD)
        assert outcome.value == "done"
    bot.services.lessons.record(LessonDraft(LessonKind.WENT_WELL, "Pages reached <!here>", LEAD))
    bot.services.lessons.record(
        LessonDraft(LessonKind.ARCHITECTURE, "One gateway is one failure point", "U0BOB", (1,))
    )
    review = bot.services.weekly.build()
    assert review.lessons_total == 2
    assert [(t.category, t.count) for t in review.root_causes] == [
        ("third_party", 2),
        ("configuration", 1),
    ]
    _, blocks = weekly_message(bot.program, review)
    text = json.dumps([b.to_dict() for b in blocks], ensure_ascii=False)
    assert "*Lessons this week* (2)" in text and "*Went well*" in text
    assert "*Architecture insight*" in text and "&lt;!here&gt;" in text and "<!here>" not in text
    assert "*Most frequent root causes* — resolved items since 16 Nov" in text
    assert "*Third party* — 2 item(s); latest" in text and "*Configuration* — 1 item(s)" in text
    assert "workaround (" in text and "Retry the payment &lt;once&gt;" in text
