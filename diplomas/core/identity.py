"""An institution's identity over time: the public addresses its diplomas have named.

An institution is known by its did:web DID, which follows from its public URL
(`model.did_web`). The URL is a setting: the institution starts on a test address, or
moves to a domain of its own, long after diplomas were issued. Its keys belong to the
institution, not to an address, so a move changes only the DID that new diplomas name:

    current    the address in the settings now; new diplomas and status lists name it
    former     earlier addresses that issued diplomas name; their DIDs stay the
               institution's, each key verifies under every one of them, and the DID
               document lists them as `alsoKnownAs`

An address that no diploma names (the default one of a first set-up, replaced before
anything was issued) is simply forgotten: nothing was published under it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from .model import did_web


@dataclass(frozen=True)
class Address:
    """A public URL the institution published under, from `since` until `until`."""

    public_url: str
    since: datetime
    until: datetime | None = None

    @property
    def did(self) -> str:
        return did_web(self.public_url)


@dataclass(frozen=True)
class Identity:
    """The current address and the former ones that issued diplomas name."""

    current: Address
    former: tuple[Address, ...] = ()

    @property
    def former_dids(self) -> tuple[str, ...]:
        """The DIDs of the former addresses, newest first, without the current one."""
        seen: dict[str, None] = {}
        for address in reversed(self.former):
            if address.did != self.current.did:
                seen.setdefault(address.did)
        return tuple(seen)

    def names(self, public_url: str) -> bool:
        """Whether `public_url` is the current address, exactly as written."""
        return self.current.public_url == public_url


def moved(identity: Identity, public_url: str, now: datetime, *, in_use: bool) -> Identity:
    """The identity after the public URL was changed to `public_url` at `now`.

    `in_use` says whether anything issued since the current address took effect names
    it: only then is it kept as a former address. Moving back to a former address makes
    it current again. A new spelling of the same DID (http to https, a trailing path
    change that keeps the DID) changes the URL and nothing else.
    """
    new = Address(public_url, now)
    if new.did == identity.current.did:
        return replace(identity, current=replace(identity.current, public_url=public_url))
    former = [a for a in identity.former if a.did != new.did]
    if in_use:
        former.append(replace(identity.current, until=now))
    return Identity(new, tuple(former))
