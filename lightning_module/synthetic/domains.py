"""Domain options for transfer studies: season, light and viewpoint, alone or combined ("winter+dusk+drone").

A factor not named is mixed the way a survey season would mix it: "default" = mostly leaf-on, clear or overcast
skies with some dusk, phone photos from the roadside.
"""

from __future__ import annotations

from dataclasses import dataclass

SEASONS = ("summer", "winter")
SKIES = ("noon", "overcast", "dusk")
VIEWS = ("phone", "drone")
DOMAIN_HELP = (
    "'default', or one or more of summer|winter, noon|overcast|dusk, phone|drone joined with '+' "
    "(e.g. 'winter+dusk', 'summer+drone')"
)


@dataclass(frozen=True)
class Domain:
    season: str | None = None  # None = mixed
    sky: str | None = None  # None = mixed; "noon" means a clear midday sky
    view: str = "phone"

    @property
    def name(self) -> str:
        parts = [p for p in (self.season, self.sky) if p] + ([self.view] if self.view != "phone" else [])
        return "+".join(parts) or "default"


def parse_domain(text: str) -> Domain:
    """Parse a domain string; raises ValueError naming the bad word and the choices."""
    words = [w.strip().lower() for w in text.replace(",", "+").split("+") if w.strip()]
    if not words:
        raise ValueError(f"Empty domain; use {DOMAIN_HELP}.")
    season = sky = view_named = None
    for word in words:
        if word == "default":
            continue
        if word in SEASONS:
            if season and season != word:
                raise ValueError(f"Domain {text!r} names two seasons; pick one of {', '.join(SEASONS)}.")
            season = word
        elif word in SKIES:
            if sky and sky != word:
                raise ValueError(f"Domain {text!r} names two skies; pick one of {', '.join(SKIES)}.")
            sky = word
        elif word in VIEWS:
            if view_named and view_named != word:
                raise ValueError(f"Domain {text!r} names two viewpoints; pick one of {', '.join(VIEWS)}.")
            view_named = word
        else:
            raise ValueError(f"Unknown domain word {word!r} in {text!r}; use {DOMAIN_HELP}.")
    return Domain(season, sky, view_named or "phone")
