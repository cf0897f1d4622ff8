"""Errors that name the problem and the fix, so notebooks and the widget can show them as they are."""

from __future__ import annotations


class NapInputError(ValueError):
    """Bad input to napwidget: the message says what is wrong and how to fix it.

    Example
    -------
    >>> str(NapInputError("min_cluster_size=1 is too small", "use 2 or more"))
    'min_cluster_size=1 is too small. Fix: use 2 or more.'
    """

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}. Fix: {fix}.")
