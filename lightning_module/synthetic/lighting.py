"""Light and weather as a colour transform applied to every drawn colour (cheap: once per shape, not per pixel)."""

from __future__ import annotations

from dataclasses import dataclass

from .canvas import RGB


@dataclass(frozen=True)
class Lighting:
    """Colour gains per channel, a pull toward flat grey (overcast), and an overall exposure."""

    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    flatten: float = 0.0  # 0 = full contrast, 1 = everything mid grey
    exposure: float = 1.0

    def __call__(self, rgb: RGB) -> RGB:
        r, g, b = rgb
        f = self.flatten
        if f:
            grey = (r + g + b) / 3
            r, g, b = r + (grey * 0.9 + 12 - r) * f, g + (grey * 0.9 + 12 - g) * f, b + (grey * 0.9 + 12 - b) * f
        e = self.exposure
        gr, gg, gb = self.gain
        return (min(255, max(0, int(r * gr * e))), min(255, max(0, int(g * gg * e))), min(255, max(0, int(b * gb * e))))


def haze(rgb: RGB, towards: RGB, amount: float) -> RGB:
    """Mix a colour toward the horizon's colour: distant things are paler (aerial perspective)."""
    return tuple(int(c + (t - c) * amount) for c, t in zip(rgb, towards))  # type: ignore[return-value]


def lighting_for(sky: str, exposure: float) -> Lighting:
    """The scene lighting under a given sky: clear noon, flat overcast, or warm and dark dusk."""
    if sky == "overcast":
        return Lighting((0.95, 0.97, 1.0), 0.25, exposure)
    if sky == "dusk":
        return Lighting((0.95, 0.72, 0.62), 0.1, exposure * 0.72)
    return Lighting((1.0, 1.0, 1.0), 0.0, exposure)
