"""Domain errors of group buying (codes are part of the API)."""

from __future__ import annotations

from siyu.core.errors import Conflict


class ActivityNotLive(Conflict):
    """This group-buy activity is not running."""

    code = "activity_not_live"


class GroupClosed(Conflict):
    """This group is no longer open."""

    code = "group_closed"


class GroupFull(Conflict):
    """Every seat in this group is taken."""

    code = "group_full"


class AlreadyInGroup(Conflict):
    """You already hold a seat in a group of this activity."""

    code = "already_in_group"


class GroupBuyLimitReached(Conflict):
    """You have reached this activity's limit per customer."""

    code = "group_buy_limit"
