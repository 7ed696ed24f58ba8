"""The Home tab and `/hypercare status`: where hypercare stands."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.slack.blocks import pulse as pulse_blocks
from bot.slack.blocks import status as status_blocks
from handlers.services import Services

HOME_OWNED = 10  # open items the Home tab lists under "My open items"
STATUS_OWNED = 5  # and `/hypercare status`, which is read in a channel


def show_status(ack: Ack, user: str, services: Services) -> None:
    """`/hypercare status`: each exit criterion, the window and the verdict, privately; with a
    user pulse, its score over the last 7 days and the trend; then the owners: how many open
    items nobody owns, and the asker's own."""
    text, blocks = status_blocks.status_message(services.program, services.status.readiness())
    if services.pulse.enabled:
        blocks += pulse_blocks.status_blocks(services.pulse.trend())
    open_total, unowned = services.status.ownership()
    owned = services.owners.mine(user, limit=STATUS_OWNED + 1)
    blocks += status_blocks.ownership_blocks(
        services.program, open_total, unowned, owned, STATUS_OWNED
    )
    ack(response_type="ephemeral", text=text, blocks=blocks)


def publish_home(event: dict[str, Any], client: WebClient, services: Services) -> None:
    """Render the viewer's Home tab each time they open it."""
    if event.get("tab") != "home":
        return
    user = event["user"]
    # One more than shown: the tab says when there are more.
    owned = services.owners.mine(user, limit=HOME_OWNED + 1)
    view = status_blocks.home_view(
        services.program, services.status.overview(user), owned, HOME_OWNED
    )
    client.views_publish(user_id=user, view=view)
