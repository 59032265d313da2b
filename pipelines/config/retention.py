"""How long artifacts are kept, per kind (pipeline.yaml's ``retention``)."""

from typing import ClassVar

import msgspec

from pipelines.config.schema import Duration, LowerName, Model, default_duration

DAY = 86400.0


class Keep(Duration):
    """How long a kind of artifact is kept."""

    maximum: ClassVar[float] = 36500 * DAY
    too_long: ClassVar[str] = "a retention may be (100 years)"


# Production deploys are evidence for longer than the rest.
DEPLOYS_BY_ENV = {"production": Keep(90 * DAY)}


class RetentionSettings(Model, frozen=True):
    """How long each kind of artifact is kept (CI results a week, staging deploys a month,
    production deploys a quarter, drill reports a year)."""

    runs: Keep = default_duration(Keep, 7 * DAY)
    deploys: Keep = default_duration(Keep, 30 * DAY)
    # Per environment, over the defaults: naming staging keeps production's 90 days.
    deploys_by_env: dict[LowerName, Keep] = msgspec.field(default_factory=lambda: DEPLOYS_BY_ENV)
    drills: Keep = default_duration(Keep, 365 * DAY)

    def __post_init__(self) -> None:
        super().__post_init__()
        merged = {**DEPLOYS_BY_ENV, **self.deploys_by_env}
        msgspec.structs.force_setattr(self, "deploys_by_env", merged)
