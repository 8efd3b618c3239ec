"""The CLM5 vertically resolved soil carbon matrix model (pure torch, no learning).

Main entry points: :class:`~soilbinn.process.model.CLM5Model`,
:class:`~soilbinn.process.forcing.Forcing`,
:class:`~soilbinn.process.parameters.ParameterSpace` and
:func:`~soilbinn.process.observation.interpolate_to_depths` and
:func:`~soilbinn.process.observation.stocks_over_intervals`.
"""

from soilbinn.process.forcing import Forcing, ForcingError
from soilbinn.process.model import CLM5Model, ParameterError, PreparedForcing
from soilbinn.process.observation import (
    ObservationDepthError,
    interpolate_to_depths,
    stocks_over_intervals,
)
from soilbinn.process.parameters import PARAM_NAMES, PRESETS, ParameterSpace

__all__ = [
    "CLM5Model",
    "Forcing",
    "ForcingError",
    "ObservationDepthError",
    "PARAM_NAMES",
    "PRESETS",
    "ParameterError",
    "ParameterSpace",
    "PreparedForcing",
    "interpolate_to_depths",
    "stocks_over_intervals",
]
