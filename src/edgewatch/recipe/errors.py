"""Errors raised while reading, validating, selecting or interpolating Greengrass recipes."""

from __future__ import annotations


class RecipeError(ValueError):
    """A recipe is unreadable, invalid, too large, or has no manifest for the platform.

    The message names the recipe source (file or "<dict>"), the field path and the problem.
    """

    def __init__(self, source: str, path: str, problem: str) -> None:
        self.source = source
        self.path = path
        self.problem = problem
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {problem}")


class InterpolationError(ValueError):
    """A recipe variable cannot be resolved (strict mode; the nucleus would leave it as written)."""

    def __init__(self, component: str, variable: str, problem: str) -> None:
        self.component = component
        self.variable = variable
        self.problem = problem
        super().__init__(f"{component}: recipe variable {variable}: {problem}")
