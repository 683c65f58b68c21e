"""``[groups]``: who may use Ringotel, and how an LDAP directory is asked."""

from __future__ import annotations

from pydantic import Field, model_validator

from bridge.config.durations import Duration
from bridge.config.section import Section, refuse
from bridge.directory.presets import GroupStrategy

#: How an LDAP directory reads groups; a users file lists them, so these are refused
#: with ``type = "file"`` (``bridge.config.settings``).
LDAP_ONLY_KEYS = ("nested", "strategy")


class GroupLists(Section):
    """Allow and deny lists, and how membership is read: ``[groups]``, or a directory's
    own ``[directories.groups]`` (which replaces ``[groups]`` for that directory).

    ``nested`` picks the flavor's strategy (active_directory: token_groups when nested,
    else member_of); ``strategy`` names one outright. Both at once would leave one of
    them ignored, so that is refused.
    """

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    nested: bool = True
    strategy: GroupStrategy | None = None

    @model_validator(mode="after")
    def _one_way_to_choose(self) -> GroupLists:
        if self.strategy is not None and "nested" in self.model_fields_set:
            message = (
                "strategy is set and decides alone; nested only picks the flavor's "
                "strategy: set one of them"
            )
            refuse(self, {"nested": message})
        return self


class GroupSettings(GroupLists):
    """``[groups]``: the lists (for every directory without its own) and the cache,
    which every directory shares."""

    cache_ttl: Duration = 300.0
    cache_size: int = Field(10_000, ge=1)
