"""Dagger module of portable-pipelines: the plan's stages, each in its own container."""

from ci.main import Ci as Ci
