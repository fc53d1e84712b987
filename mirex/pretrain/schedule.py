"""Learning-rate stages: one schedule type, two policies for moving to the next stage.

Both policies walk through the same stages, each learning rate a fifth of the
one before (the paper's ``0.01, 0.002, 0.0004, 0.00008, 0.000016``):

``'plateau'`` (the paper: Lee, Park, Kim & Nam, SMC 2017)
    a stage ends when the validation loss has not improved for ``patience``
    epochs (or after ``epochs_per_stage``); the next one restarts from the
    best weights with fresh momenta; the run is finished after the last.
``'budget'``
    the stages are spread over a training-time budget: stage ``k`` starts at
    ``stage_fractions[k]`` of it (the weights and momenta carry on); the run
    is finished when the budget is spent.

The schedule is stateless: what it decides from lives in the checkpoint's
state dict (``stage``, ``lr``, ``wait``, ``epoch_in_stage``, ``seconds``,
``finished``), so a resumed run continues the same schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

__all__ = ["LRS", "STAGE_FRACTIONS", "POLICIES", "Schedule", "stage_lr", "divided_by_five"]

#: The paper's learning-rate stages (each one a fifth of the one before).
LRS = (0.01, 0.002, 0.0004, 0.00008, 0.000016)
#: ``'budget'`` policy: fraction of the time budget at which each stage starts.
STAGE_FRACTIONS = (0.0, 0.55, 0.8, 0.93)
POLICIES = ("plateau", "budget")


def divided_by_five(lr: float, n: int = len(LRS)) -> list[float]:
    """``n`` stages starting at ``lr``, each a fifth of the one before."""
    return [float(lr) / 5 ** k for k in range(n)]


def stage_lr(fraction: float, lrs: Sequence[float] = LRS,
             stage_fractions: Sequence[float] = STAGE_FRACTIONS) -> float:
    """The learning rate at ``fraction`` (0..1) of a time budget."""
    return float(lrs[_budget_stage(fraction, len(lrs), stage_fractions)])


def _budget_stage(fraction: float, n_lrs: int, stage_fractions: Sequence[float]) -> int:
    stage = sum(fraction >= f for f in stage_fractions[:n_lrs]) - 1
    return max(0, min(stage, n_lrs - 1))


@dataclass
class Schedule:
    """Learning-rate stages and the policy that moves between them.

    Attributes
    ----------
    lrs : sequence of float
        Learning rate of each stage.
    policy : {'plateau', 'budget'}
    patience : int
        ``'plateau'``: epochs without a lower validation loss that end a stage.
    epochs_per_stage : int or None
        ``'plateau'``: most epochs in one stage (``None``: patience only).
    budget_seconds : float or None
        ``'budget'``: training seconds of the whole run.
    stage_fractions : sequence of float
        ``'budget'``: where each stage starts, as a fraction of the budget.
    """

    lrs: Sequence[float] = LRS
    policy: str = "plateau"
    patience: int = 3
    epochs_per_stage: int | None = None
    budget_seconds: float | None = None
    stage_fractions: Sequence[float] = STAGE_FRACTIONS

    def __post_init__(self):
        self.lrs = [float(lr) for lr in self.lrs]
        if self.policy not in POLICIES:
            raise ValueError(f"schedule policy must be one of {POLICIES}, got {self.policy!r}")
        if not self.lrs or int(self.patience) < 1:
            raise ValueError("the schedule needs learning rates and a patience >= 1")
        if self.policy == "budget" and not (self.budget_seconds or 0) > 0:
            raise ValueError("the 'budget' schedule needs a time budget > 0")

    def initial_state(self) -> dict:
        return {"stage": 0, "lr": self.lrs[0], "wait": 0, "epoch_in_stage": 0,
                "seconds": 0.0, "finished": False}

    def begin_epoch(self, state: dict) -> bool:
        """Set the epoch's stage and rate (``'budget'``); True when the stage changed."""
        if self.policy != "budget":
            return False
        stage = _budget_stage(state["seconds"] / self.budget_seconds, len(self.lrs),
                              self.stage_fractions)
        changed = stage != state["stage"]
        if changed:
            state["stage"], state["epoch_in_stage"] = stage, 0
        state["lr"] = self.lrs[stage]
        return changed

    @staticmethod
    def count(state: dict, improved: bool) -> None:
        """Count an epoch done: the patience counter and the epochs of the stage."""
        state["wait"] = 0 if improved else state["wait"] + 1
        state["epoch_in_stage"] += 1

    def advance(self, state: dict) -> bool:
        """After :meth:`count`: True when a ``'plateau'`` stage is over (restart from the best).

        Sets ``state['finished']`` after the last stage (``'plateau'``) or
        once the budget is spent (``'budget'``).
        """
        if self.policy == "budget":
            state["finished"] = state["seconds"] >= self.budget_seconds
            return False
        over = state["wait"] >= self.patience or (
            self.epochs_per_stage is not None and state["epoch_in_stage"] >= self.epochs_per_stage)
        if over:
            state["stage"] += 1
            state["wait"], state["epoch_in_stage"] = 0, 0
            if state["stage"] >= len(self.lrs):
                state["finished"] = True
            else:
                state["lr"] = self.lrs[state["stage"]]
        return over

    def describe(self) -> dict:
        """What the provenance records of the schedule."""
        out = {"policy": self.policy, "lrs": self.lrs}
        if self.policy == "budget":
            out.update(stage_fractions=list(self.stage_fractions),
                       minutes=round(self.budget_seconds / 60.0, 3))
        else:
            out.update(patience=self.patience, epochs_per_stage=self.epochs_per_stage)
        return out
