"""The licence a user declares for their documents, as the Hub's card metadata wants it.

The Hub accepts a fixed set of licence IDs in a card's ``license:`` field (its "Licenses" page);
anything else must be ``other`` with a ``license_name``. Users type what their documents say
(``CC-BY-SA-4.0``, ``MIT``, "internal use only"), so IDs are matched case-insensitively and
the declared text is kept for the card's body either way.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

# The licence identifiers the Hugging Face Hub knows (huggingface.co/docs/hub/repositories-licenses).
HUB_LICENCES = frozenset(
    """
    apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m
    afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5
    cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
    cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0
    cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl
    lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl
    openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license llama2 llama3 llama3.1
    llama3.2 llama3.3 llama4 gemma unknown other
    """.split()
)
NOT_DECLARED = "other"


class DeclaredLicence(BaseModel):
    """The ``--license`` value, split into Hub IDs and free text."""

    declared: list[str] = Field(default_factory=list, description="What the user wrote, one entry per licence")
    hub_ids: list[str] = Field(default_factory=list, description="Entries that are Hub licence IDs, lower-cased")
    other: list[str] = Field(default_factory=list, description="Entries that are not: the card says `other` and names them")

    @property
    def is_declared(self) -> bool:
        return bool(self.declared)

    def metadata(self) -> dict[str, object]:
        """``license`` (one ID or a list) and, for free text, ``license_name`` (a slug, as the Hub asks)."""
        ids = [*self.hub_ids, *(["other"] if self.other or not self.declared else [])]
        fields: dict[str, object] = {"license": ids[0] if len(ids) == 1 else ids}
        if self.other:
            fields["license_name"] = re.sub(r"[^a-z0-9]+", "-", " ".join(self.other).lower()).strip("-")[:60] or "other"
        return fields


def parse_licence(value: str | None) -> DeclaredLicence:
    """``"CC-BY-SA-4.0, MIT"`` -> IDs cc-by-sa-4.0 and mit; ``"other"`` or nothing -> not declared."""
    entries = [part.strip() for part in (value or "").split(",") if part.strip()]
    entries = [entry for entry in entries if entry.lower() != NOT_DECLARED]
    hub_ids = [entry.lower() for entry in entries if entry.lower() in HUB_LICENCES]
    other = [entry for entry in entries if entry.lower() not in HUB_LICENCES]
    return DeclaredLicence(declared=entries, hub_ids=hub_ids, other=other)
